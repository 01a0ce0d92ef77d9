package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/proxy"
	"github.com/tether-proxy/tether/replication"
)

// TestSessionsAPI covers GET, DELETE and PUT /api/sessions: the answers,
// and the status of each kind of bad request.
func TestSessionsAPI(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	tab, err := replication.New(replication.Config{NodeName: "p1", StatePath: filepath.Join(t.TempDir(), "states.json")})
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("{\n\tadmin 127.0.0.1:0\n}\nhttp://127.0.0.1:0 {\n\treverse_proxy /x/* {\n\t\tname app\n\t\tto a=%s b=%s\n\t}\n\treverse_proxy /c/* {\n\t\tname cookies\n\t\tto a=%s\n\t\tsticky cookie TID\n\t}\n}\n", a.URL, b.URL, a.URL)
	s, _ := startProxyOpts(t, src, proxy.Options{Logger: zerolog.New(t.Output()), Sessions: tab})
	admin := "http://" + s.Addrs().Admin
	do := func(method, query, body string) (int, proxy.SessionInfo) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, admin+"/api/sessions?"+query, rd)
		req.Header.Set("X-Tether-Admin", "test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var info proxy.SessionInfo
		data, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(data, &info)
		return resp.StatusCode, info
	}
	q := url.Values{"balancer": {"app"}, "id": {"S1.a"}}.Encode()
	if code, info := do(http.MethodGet, q, ""); code != 200 || info.Member != "a" || info.Reason != "sticky" {
		t.Errorf("GET = %d %+v; want 200, a, sticky", code, info)
	}
	if code, info := do(http.MethodPut, q, `{"member":"b"}`); code != 200 || info.Member != "b" || info.Reason != "pinned" {
		t.Errorf("PUT member b = %d %+v; want 200, b, pinned", code, info)
	}
	if code, info := do(http.MethodDelete, q, ""); code != 200 || info.Member != "a" || info.Entry != nil {
		t.Errorf("DELETE = %d %+v; want 200, back to a, no entry", code, info)
	}
	for _, tc := range []struct {
		name, method, query, body string
		want                      int
	}{
		{"no id", http.MethodGet, "balancer=app", "", 400},
		{"unknown balancer", http.MethodGet, "balancer=nope&id=S1.a", "", 404},
		{"move without a member", http.MethodPut, q, `{}`, 400},
		{"move to an unknown member", http.MethodPut, q, `{"member":"zz"}`, 404},
		{"sticky cookie keeps no sessions", http.MethodDelete, "balancer=cookies&id=x", "", 409},
	} {
		if code, _ := do(tc.method, tc.query, tc.body); code != tc.want {
			t.Errorf("%s: %s ?%s = %d; want %d", tc.name, tc.method, tc.query, code, tc.want)
		}
	}
}

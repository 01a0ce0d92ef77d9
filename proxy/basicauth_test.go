package proxy

import (
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestBasicAuth: basic_auth /admin/* lets the listed user in with the right
// password only; other paths need nothing; a refusal offers Basic auth.
func TestBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	m := newBackend(t, "m", nil)
	_, site := startProxy(t, "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\tbasic_auth /admin/* {\n\t\tops "+string(hash)+"\n\t}\n\treverse_proxy m=http://"+m.hostport()+"\n}\n", nil)
	for _, tc := range []struct {
		path, user, pass string
		want             int
	}{
		{"/admin/x", "", "", 401},
		{"/admin/x", "ops", "wrong", 401},
		{"/admin/x", "nobody", "s3cret", 401},
		{"/admin/x", "ops", "s3cret", 200},
		{"/admin/x", "ops", "s3cret", 200}, // remembered
		{"/shop", "", "", 200},
	} {
		req, _ := http.NewRequest(http.MethodGet, site+tc.path, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		before := m.hits.Load()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s as %q/%q: %d; want %d", tc.path, tc.user, tc.pass, resp.StatusCode, tc.want)
		}
		if tc.want == 401 {
			if ch := resp.Header.Get("WWW-Authenticate"); ch != `Basic realm="restricted", charset="UTF-8"` {
				t.Errorf("401 challenge %q", ch)
			}
			if m.hits.Load() != before {
				t.Errorf("%s as %q: a refused request reached the member", tc.path, tc.user)
			}
		}
	}
}

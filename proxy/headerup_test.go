package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeaderUpDown: header_up changes the request a member receives
// (placeholders filled in, Host included) and header_down the answer the
// client gets.
func TestHeaderUpDown(t *testing.T) {
	var got http.Header
	var gotHost string
	m := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) {
		got, gotHost = r.Header.Clone(), r.Host
		w.Header().Set("X-Member-Secret", "internal")
		w.Header().Set("Location", "http://m.internal/next")
	})
	src := oneBalancer("m=http://"+m.hostport(), "\t\theader_up Host {upstream_hostport}\n\t\theader_up X-Real-IP {remote_host}\n\t\theader_up -X-Drop\n\t\theader_up +X-Via-Site \"{scheme}://{hostport}{path}\"\n"+
		"\t\theader_down -X-Member-Secret\n\t\theader_down Location http://m.internal https://shop.example.com\n\t\theader_down X-Served-For {header.X-Client}")
	_, site := startProxy(t, src, nil)
	req, _ := http.NewRequest(http.MethodGet, site+"/cart?x=1", nil)
	req.Header.Set("X-Drop", "gone")
	req.Header.Set("X-Client", "app-7")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotHost != m.hostport() {
		t.Errorf("member saw Host %q; want the upstream's %q", gotHost, m.hostport())
	}
	if v := got.Get("X-Real-IP"); v != "127.0.0.1" {
		t.Errorf("X-Real-IP = %q; want 127.0.0.1", v)
	}
	if v := got.Get("X-Drop"); v != "" {
		t.Errorf("X-Drop reached the member: %q", v)
	}
	if v := got.Get("X-Via-Site"); v != "http://"+strings.TrimPrefix(site, "http://")+"/cart" {
		t.Errorf("X-Via-Site = %q", v)
	}
	if v := resp.Header.Get("X-Member-Secret"); v != "" {
		t.Errorf("X-Member-Secret reached the client: %q", v)
	}
	if v := resp.Header.Get("Location"); v != "https://shop.example.com/next" {
		t.Errorf("Location = %q; want the member's rewritten", v)
	}
	if v := resp.Header.Get("X-Served-For"); v != "app-7" {
		t.Errorf("X-Served-For = %q; want the request's X-Client", v)
	}
}

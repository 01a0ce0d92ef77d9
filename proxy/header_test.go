package proxy

import (
	"net/http"
	"slices"
	"testing"
)

// TestHeaderDirective runs a site with header directives in front of a
// member that sends its own fields, and checks the answer's header.
func TestHeaderDirective(t *testing.T) {
	member := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Server", "Apache-Coyote/1.1")
		h.Set("X-Powered-By", "Servlet/6.0")
		h.Set("X-Powered-Version", "10.1")
		h.Set("Location", "http://shop.example.com/cart")
		h.Set("Cache-Control", "private")
		h.Add("Link", "</member.css>; rel=preload")
		w.WriteHeader(http.StatusFound)
	})
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n" +
		"\theader Strict-Transport-Security \"max-age=31536000; includeSubDomains\"\n" +
		"\theader -Server\n" +
		"\theader {\n\t\t-X-Powered-*\n\t\tX-Frame-Options DENY\n\t\t?Cache-Control no-store\n\t\t?Referrer-Policy no-referrer\n\t\tdefer\n\t}\n" +
		"\theader +Link \"</site.css>; rel=preload\"\n" +
		"\theader >Location http:// https://\n" +
		"\treverse_proxy m=http://" + member.hostport() + "\n}\n"
	_, site := startProxy(t, src, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(site + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	for field, want := range map[string]string{
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
		"Server":                    "", // the member's, deleted
		"X-Powered-By":              "", // wildcard delete
		"X-Powered-Version":         "",
		"X-Frame-Options":           "DENY",
		"Cache-Control":             "private", // ? sets only a default
		"Referrer-Policy":           "no-referrer",
		"Location":                  "https://shop.example.com/cart", // deferred replace, on the member's value
	} {
		if got := h.Get(field); got != want {
			t.Errorf("%s = %q; want %q", field, got, want)
		}
	}
	if got := h.Values("Link"); !slices.Equal(got, []string{"</site.css>; rel=preload", "</member.css>; rel=preload"}) {
		t.Errorf("Link = %q; want the site's added before the member's", got)
	}
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status %d; want the member's 302", resp.StatusCode)
	}
}

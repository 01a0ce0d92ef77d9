package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// interceptMember is a member whose answers the handle_response tests
// intercept, by path.
func interceptMember(t *testing.T, next chan struct{}) *backend {
	return newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/accel":
			h.Set("X-Accel-Redirect", "/secret.txt")
			fmt.Fprint(w, "the member's own body")
		case "/unavailable":
			h.Set("Retry-After", "30")
			h.Set("X-Internal", "member-7")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "member overloaded")
		case "/gone", "/keep":
			if r.URL.Path == "/keep" {
				h.Set("X-Keep", "1")
			}
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "no such page")
		case "/moved":
			h.Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
			fmt.Fprint(w, "moved body")
		case "/events":
			h.Set("Content-Type", "text/event-stream")
			h.Set("X-Stream", "1")
			for i := range 3 {
				fmt.Fprintf(w, "data: event %d\n\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-next:
				case <-time.After(10 * time.Second):
					return
				}
			}
		case "/nothing.txt":
			w.WriteHeader(http.StatusNoContent)
		default:
			fmt.Fprint(w, "plain answer")
		}
	})
}

// TestHandleResponse: a reverse_proxy's handle_response and
// replace_status, as Caddy's: the first block whose response matcher
// passes the member's answer takes it; its routes answer the original
// request ({rp.*} placeholders, copy_response, copy_response_headers)
// or, answering nothing, let it go on past the reverse_proxy;
// replace_status changes the status of an answer that otherwise passes
// as it is; other answers pass untouched, with header_down.
func TestHandleResponse(t *testing.T) {
	next := make(chan struct{}, 1)
	member := interceptMember(t, next)
	private := writeTree(t, map[string]string{"secret.txt": "the private file", "503.html": "<h1>back soon</h1>"})
	public := writeTree(t, map[string]string{"nothing.txt": "served after the proxy"})
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n" +
		"\troot * " + public + "\n" +
		"\treverse_proxy " + member.hostport() + " {\n" +
		"\t\theader_down X-Down yes\n" +
		"\t\t@accel header X-Accel-Redirect *\n" +
		"\t\t@unavailable status 5xx\n" +
		"\t\t@notfound {\n\t\t\tstatus 404\n\t\t\theader !X-Keep\n\t\t}\n" +
		"\t\t@moved status 301 302\n" +
		"\t\t@events header Content-Type text/event-stream*\n" +
		"\t\t@nocontent status 204\n" +
		"\t\thandle_response @accel {\n\t\t\troot * " + private + "\n\t\t\trewrite * {rp.header.X-Accel-Redirect}\n\t\t\tfile_server\n\t\t}\n" +
		"\t\thandle_response @unavailable {\n\t\t\troot * " + private + "\n\t\t\trewrite * /{rp.status_code}.html\n" +
		"\t\t\tcopy_response_headers {\n\t\t\t\tinclude Retry-After\n\t\t\t}\n\t\t\tfile_server\n\t\t}\n" +
		"\t\treplace_status @notfound 410\n" +
		"\t\thandle_response @moved {\n\t\t\theader X-Was \"{rp.status_code} / {http.reverse_proxy.status_text}\"\n\t\t\tcopy_response 200\n\t\t}\n" +
		"\t\thandle_response @events {\n\t\t\tcopy_response\n\t\t}\n" +
		"\t\thandle_response @nocontent {\n\t\t\theader X-After-Proxy yes\n\t\t}\n" +
		"\t}\n" +
		"\tfile_server\n" +
		"}\n"
	_, site := startProxy(t, src, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		resp, err := client.Get(site + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	for _, tc := range []struct {
		path, wantBody string
		wantStatus     int
		wantHeader     map[string]string
	}{
		// X-Accel-Redirect: the file it names, not the member's body.
		{"/accel", "the private file", 200, map[string]string{"X-Accel-Redirect": "", "X-Down": ""}},
		// An error page for the member's 5xx, with only the copied field.
		{"/unavailable", "<h1>back soon</h1>", 200, map[string]string{"Retry-After": "30", "X-Internal": ""}},
		// replace_status: the member's answer with another status.
		{"/gone", "no such page", 410, map[string]string{"X-Down": "yes"}},
		{"/keep", "no such page", 404, map[string]string{"X-Keep": "1", "X-Down": "yes"}},
		// copy_response with a status: the member's answer, header_down
		// and all, plus the block's own header.
		{"/moved", "moved body", 200, map[string]string{"Location": "/elsewhere", "X-Was": "302 / 302 Found", "X-Down": "yes"}},
		// A block that answers nothing: the request goes on to file_server.
		{"/nothing.txt", "served after the proxy", 200, map[string]string{"X-After-Proxy": "yes"}},
		// Nothing matches: the member's answer as it is.
		{"/other", "plain answer", 200, map[string]string{"X-Down": "yes", "X-Route": "m"}},
	} {
		resp, body := get(tc.path)
		if resp.StatusCode != tc.wantStatus || body != tc.wantBody {
			t.Errorf("GET %s: %d %q; want %d %q", tc.path, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
		}
		for k, v := range tc.wantHeader {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("GET %s: %s = %q; want %q", tc.path, k, got, v)
			}
		}
	}

	// copy_response streams: each event arrives before the member sends
	// the next.
	resp, err := client.Get(site + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("X-Stream") != "1" || resp.Header.Get("X-Down") != "yes" {
		t.Errorf("/events headers %v; want the member's with header_down", resp.Header)
	}
	lines := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := lines.ReadString('\n')
		if want := fmt.Sprintf("data: event %d\n", i); err != nil || line != want {
			t.Fatalf("/events: event %d = %q, %v; want %q as the member sends it", i, line, err, want)
		}
		lines.ReadString('\n')
		next <- struct{}{}
	}
}

// TestHandleResponseHealth: a member's answer that handle_response takes
// still counts for passive health: an intercepted 500 with
// unhealthy_status 500 takes the member out, and requests go to the
// other; the client saw the block's answer, not a Tether error.
func TestHandleResponseHealth(t *testing.T) {
	broken := newBackend(t, "broken", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	good := newBackend(t, "good", nil)
	s, site := startProxy(t, oneBalancer("broken=http://"+broken.hostport()+" good=http://"+good.hostport(),
		"\t\tunhealthy_status 500\n\t\tmax_fails 1\n\t\tfail_duration 1m\n\t\t@err status 5xx\n\t\thandle_response @err {\n\t\t\trespond \"sorry ({rp.status_code})\" 503\n\t\t}"), io.Discard)
	resp, body := testpeers.Get(t, site+"/", map[string]string{"Cookie": "JSESSIONID=a.broken"})
	if resp.StatusCode != 503 || body != "sorry (500)" {
		t.Fatalf("first request: %d %q; want the handle_response answer 503 \"sorry (500)\"", resp.StatusCode, body)
	}
	if st := s.Status().Balancers[0].Members[0]; st.Healthy || st.Reason != "status 500" {
		t.Errorf("broken member: healthy %v, reason %q; want taken out for its status 500", st.Healthy, st.Reason)
	}
	resp, _ = testpeers.Get(t, site+"/", map[string]string{"Cookie": "JSESSIONID=a.broken"})
	if resp.Header.Get("X-Route") != "good" {
		t.Errorf("after the intercepted 500: request went to %q; want good", resp.Header.Get("X-Route"))
	}
}

// TestHandleResponseBody: a POST whose member answer is intercepted:
// the member got the body, and a reverse_proxy in the block gets none
// (the body is gone), not a torn one.
func TestHandleResponseBody(t *testing.T) {
	first := newBackend(t, "first", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusAccepted)
	})
	second := newBackend(t, "second", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "second got %d bytes after first got %s", len(b), r.Header.Get("X-First-Got"))
	})
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\treverse_proxy " + first.hostport() + " {\n" +
		"\t\t@accepted status 202\n" +
		"\t\thandle_response @accepted {\n\t\t\treverse_proxy " + second.hostport() + " {\n\t\t\t\theader_up X-First-Got {rp.header.X-Got}\n\t\t\t}\n\t\t}\n" +
		"\t}\n}\n"
	_, site := startProxy(t, src, nil)
	resp, err := http.Post(site+"/submit", "text/plain", strings.NewReader(strings.Repeat("x", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "second got 0 bytes after first got 5000" {
		t.Errorf("POST: %d %q; want 200 from the second member, which got no body", resp.StatusCode, body)
	}
}

// TestMethodDirective: Caddy's method directive changes the method the
// rest of the pipeline sees: a member gets the new one, and in Caddy's
// X-Accel-Redirect example a POST's file is served (file_server answers
// GET and HEAD only).
func TestMethodDirective(t *testing.T) {
	m := echoBackend(t, "m")
	accel := newBackend(t, "accel", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Accel-Redirect", "/report.txt")
	})
	files := writeTree(t, map[string]string{"report.txt": "the report"})
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n" +
		"\tmethod /legacy/* PUT\n" +
		"\thandle /download/* {\n\t\treverse_proxy " + accel.hostport() + " {\n" +
		"\t\t\t@accel header X-Accel-Redirect *\n" +
		"\t\t\thandle_response @accel {\n\t\t\t\troot * " + files + "\n\t\t\t\trewrite * {rp.header.X-Accel-Redirect}\n\t\t\t\tmethod * GET\n\t\t\t\tfile_server\n\t\t\t}\n" +
		"\t\t}\n\t}\n" +
		"\treverse_proxy " + m.hostport() + "\n}\n"
	_, site := startProxy(t, src, nil)
	checkPipeline(t, site, []pipelineCase{
		{method: "POST", path: "/legacy/item", status: 200, body: "m PUT /legacy/item"},
		{method: "POST", path: "/other", status: 200, body: "m POST /other"},
		{method: "POST", path: "/download/r", status: 200, body: "the report"},
	})
}

// TestReplaceStatusInErrorPages: 42LoCo42's http.cat error pages: in
// handle_errors, a reverse_proxy fetches a page named after the error and
// replace_status {err.status_code} gives the client the error's status
// with the member's page.
func TestReplaceStatusInErrorPages(t *testing.T) {
	cats := newBackend(t, "cats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		fmt.Fprintf(w, "a cat for %s (Host %s)", r.URL.Path, r.Host)
	})
	src := "{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n" +
		"\terror /private/* 403\n\trespond /ok \"fine\"\n" +
		"\thandle_errors {\n\t\trewrite * /{err.status_code}\n" +
		"\t\treverse_proxy " + cats.hostport() + " {\n\t\t\theader_up Host {upstream_hostport}\n\t\t\treplace_status {err.status_code}\n\t\t}\n\t}\n}\n"
	_, site := startProxy(t, src, nil)
	checkPipeline(t, site, []pipelineCase{
		{path: "/private/x", status: 403, body: "a cat for /403 (Host " + cats.hostport() + ")", respHeader: [2]string{"Content-Type", "image/jpeg"}},
		{path: "/nowhere", status: 404, body: "a cat for /404"},
		{path: "/ok", status: 200, body: "fine"},
	})
}

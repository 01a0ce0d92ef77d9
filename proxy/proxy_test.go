package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/testpeers"
)

// backend is an in-process HTTP member that names itself in X-Route.
type backend struct {
	*httptest.Server
	route string
	hits  atomic.Int64
}

func newBackend(t *testing.T, route string, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{route: route}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.Header().Set("X-Route", route)
		if h != nil {
			h(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "hello from %s\n", route)
	}))
	t.Cleanup(b.Close)
	return b
}

// newBenchBackend is a minimal member for benchmarks.
func newBenchBackend(tb testing.TB, route string) string {
	body := []byte(strings.Repeat("x", 100))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Route", route)
		w.Write(body)
	}))
	tb.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func (b *backend) hostport() string { return strings.TrimPrefix(b.URL, "http://") }

// startProxy runs a Server for the Caddyfile text and returns its site
// address. logs receives the server's log (may be nil).
func startProxy(t *testing.T, src string, logs io.Writer) (*Server, string) {
	t.Helper()
	if logs == nil {
		logs = t.Output()
	}
	return startProxyTB(t, src, logs)
}

func startProxyB(b *testing.B, src string) (*Server, string) {
	return startProxyTB(b, src, io.Discard)
}

func startProxyTB(t testing.TB, src string, logs io.Writer) (*Server, string) {
	t.Helper()
	return startProxyOpts(t, src, Options{Logger: zerolog.New(logs)}, nil)
}

// serveUntilCancel runs a Server for src until the test calls cancel, as
// SIGTERM does; done receives Serve's result. The shutdown tests use it to
// watch the shutdown itself.
func serveUntilCancel(t *testing.T, src string) (*Server, context.CancelFunc, <-chan error) {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "Caddyfile"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Logger: zerolog.New(t.Output())})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	return s, cancel, done
}

// startProxyOpts runs a Server for src with opts until the test ends, and
// run alongside it when not nil (a session table's Run).
func startProxyOpts(t testing.TB, src string, opts Options, run func(context.Context) error) (*Server, string) {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "Caddyfile"), []byte(src))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- s.Serve(ctx) }()
	if run != nil {
		go func() { done <- run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if run != nil {
			<-done
		}
	})
	return s, "http://" + s.Addrs().Listeners[0].Addr
}

func oneBalancer(members, extra string) string {
	return fmt.Sprintf("{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\treverse_proxy {\n\t\tname app\n\t\tto %s\n%s\n\t}\n}\n", members, extra)
}

func TestRetryPolicy(t *testing.T) {
	// dead is a port nothing listens on: connect refused, so the request
	// never reached it and any method may go to the failover member.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	good := newBackend(t, "good", nil)
	_, site := startProxy(t, oneBalancer("dead=http://"+dead+" good=http://"+good.hostport(), "\t\tmax_fails 100"), nil)

	for _, method := range []string{"GET", "POST", "PATCH"} {
		req, _ := http.NewRequest(method, site+"/", strings.NewReader("payload"))
		req.Header.Set("Cookie", "JSESSIONID=x.dead")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Route") != "good" {
			t.Errorf("%s to a refused member: status %d from %q; want 200 from the failover member", method, resp.StatusCode, resp.Header.Get("X-Route"))
		}
	}

	// A member that takes the request and then drops the connection: a GET
	// is retried, a POST (the member may have acted on it) is not.
	var drops atomic.Int64
	dropper := newBackend(t, "dropper", func(w http.ResponseWriter, r *http.Request) {
		drops.Add(1)
		io.Copy(io.Discard, r.Body)
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	})
	_, site2 := startProxy(t, oneBalancer("dropper=http://"+dropper.hostport()+" good=http://"+good.hostport(), "\t\tmax_fails 100"), nil)
	resp, _ := testpeers.Get(t, site2+"/", map[string]string{"Cookie": "JSESSIONID=x.dropper"})
	if resp.StatusCode != 200 || resp.Header.Get("X-Route") != "good" {
		t.Errorf("GET to a member that dropped it: status %d from %q; want 200 from good", resp.StatusCode, resp.Header.Get("X-Route"))
	}
	before := drops.Load()
	req, _ := http.NewRequest("POST", site2+"/", strings.NewReader("once"))
	req.Header.Set("Cookie", "JSESSIONID=x.dropper")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || drops.Load() != before+1 {
		t.Errorf("POST to a member that dropped it: status %d, member saw it %d times; want 502 once", resp.StatusCode, drops.Load()-before)
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" || !strings.Contains(string(body), id) {
		t.Errorf("502 answer has request id header %q and body %q; want the id in both", id, body)
	}
}

func TestErrorStatuses(t *testing.T) {
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	_, site := startProxy(t, oneBalancer("slow=http://"+slow.hostport(), "\t\tresponse_header_timeout 200ms\n\t\tretries 0"), nil)
	if resp, _ := testpeers.Get(t, site+"/", nil); resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("member slower than response_header_timeout: status %d; want 504", resp.StatusCode)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	_, site2 := startProxy(t, oneBalancer("dead=http://"+dead, ""), nil)
	if resp, _ := testpeers.Get(t, site2+"/", nil); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("only member refuses: status %d; want 502", resp.StatusCode)
	}
	// Passive health takes out at most half of a balancer's members: the
	// only one stays in rotation, and the next request tries it again.
	if resp, _ := testpeers.Get(t, site2+"/", nil); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("only member still refusing: status %d; want 502 (it is never taken out)", resp.StatusCode)
	}
}

func TestPassiveHealthAndRecovery(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	flaky := newBackend(t, "flaky", func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	good := newBackend(t, "good", nil)
	s, site := startProxy(t, oneBalancer("flaky=http://"+flaky.hostport()+" good=http://"+good.hostport(),
		"\t\tfail_on_status 503\n\t\tmax_fails 2\n\t\trecover_time 300ms"), nil)

	for range 2 {
		testpeers.Get(t, site+"/", map[string]string{"Cookie": "JSESSIONID=a.flaky"})
	}
	if resp, _ := testpeers.Get(t, site+"/", map[string]string{"Cookie": "JSESSIONID=a.flaky"}); resp.Header.Get("X-Route") != "good" {
		t.Fatalf("after 2 failures (max_fails 2): session went to %q; want failover to good", resp.Header.Get("X-Route"))
	}
	st := s.Status().Balancers[0].Members[0]
	if st.Healthy || st.Reason != "status 503" {
		t.Errorf("status of flaky = healthy %v reason %q; want down with reason \"status 503\"", st.Healthy, st.Reason)
	}
	failing.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := testpeers.Get(t, site+"/", map[string]string{"Cookie": "JSESSIONID=a.flaky"})
		if resp.Header.Get("X-Route") == "flaky" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("flaky never came back after recover_time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestActiveHealthCheck(t *testing.T) {
	var healthy atomic.Bool
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	other := newBackend(t, "other", nil)
	s, site := startProxy(t, oneBalancer("app=http://"+app.hostport()+" other=http://"+other.hostport(),
		"\t\thealth_uri /health\n\t\thealth_interval 50ms\n\t\thealth_fails 2\n\t\thealth_passes 2"), nil)
	testpeers.WaitUntil(t, 5*time.Second, "app marked down by health checks", func() bool { return !s.Status().Balancers[0].Members[0].Healthy })
	for range 20 {
		if resp, _ := testpeers.Get(t, site+"/", nil); resp.Header.Get("X-Route") != "other" {
			t.Fatalf("new request went to %q while app fails its health check", resp.Header.Get("X-Route"))
		}
	}
	healthy.Store(true)
	testpeers.WaitUntil(t, 5*time.Second, "app back after passing health checks", func() bool { return s.Status().Balancers[0].Members[0].Healthy })
}

func TestForwardedHeaders(t *testing.T) {
	var got http.Header
	echo := newBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		got.Set("Host", r.Host)
	})
	_, untrusted := startProxy(t, oneBalancer("echo=http://"+echo.hostport(), ""), nil)
	testpeers.Get(t, untrusted+"/", map[string]string{"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"})
	if v := got.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("X-Forwarded-For from an untrusted client = %q; want it replaced by 127.0.0.1", v)
	}
	if v := got.Get("X-Forwarded-Proto"); v != "http" {
		t.Errorf("X-Forwarded-Proto from an untrusted client = %q; want http", v)
	}
	if v := got.Get("Host"); !strings.HasPrefix(v, "127.0.0.1:") || v == echo.hostport() {
		t.Errorf("Host at the member = %q; want the client's Host (the proxy's address)", v)
	}

	src := strings.Replace(oneBalancer("echo=http://"+echo.hostport(), ""), "http://127.0.0.1:0 {", "http://127.0.0.1:0 {\n\ttrusted_proxies 127.0.0.0/8", 1)
	_, trusted := startProxy(t, src, nil)
	testpeers.Get(t, trusted+"/", map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
	if v := got.Get("X-Forwarded-For"); v != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For from a trusted proxy = %q; want the chain extended", v)
	}
	if v := got.Get("X-Forwarded-Proto"); v != "https" {
		t.Errorf("X-Forwarded-Proto from a trusted proxy = %q; want https believed", v)
	}
}

func TestStreamingIsFlushed(t *testing.T) {
	release := make(chan struct{})
	stream := newBackend(t, "s", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "second\n")
	})
	defer close(release)
	_, site := startProxy(t, oneBalancer("s=http://"+stream.hostport(), ""), nil)
	resp, err := http.Get(site + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first streamed line = %q, %v; want it before the member finished", line, err)
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	ws := newBackend(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo:" + line)
		brw.Flush()
	})
	_, site := startProxy(t, strings.Replace(oneBalancer("ws=http://"+ws.hostport(), ""), "{\n\tadmin off\n}", "{\n\tadmin off\n}", 1)+"", nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(site, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v; want 101", resp, err)
	}
	fmt.Fprint(conn, "ping\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := br.ReadString('\n'); err != nil || line != "echo:ping\n" {
		t.Fatalf("through the upgraded connection: %q, %v; want echo:ping", line, err)
	}
}

func TestRequestLimits(t *testing.T) {
	app := newBackend(t, "app", nil)
	_, site := startProxy(t, oneBalancer("app=http://"+app.hostport(), ""), nil)
	resp, _ := testpeers.Get(t, site+"/", map[string]string{"X-Big": strings.Repeat("a", 100<<10)})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB of headers: status %d; want 431", resp.StatusCode)
	}
}

func TestAccessLogHasNoSessionIDs(t *testing.T) {
	app := newBackend(t, "tomcat1", nil)
	logf := filepath.Join(t.TempDir(), "access.log")
	for _, format := range []string{"json", "combined"} {
		src := strings.Replace(oneBalancer("tomcat1=http://"+app.hostport(), ""), "http://127.0.0.1:0 {",
			"http://127.0.0.1:0 {\n\taccess_log "+logf+" "+format, 1)
		s, site := startProxy(t, src, nil)
		testpeers.Get(t, site+"/app;jsessionid=SECRET123.tomcat1/page?q=1", map[string]string{"Cookie": "JSESSIONID=SECRET456.tomcat1"})
		_ = s
		data, _ := os.ReadFile(logf)
		if bytes.Contains(data, []byte("SECRET")) {
			t.Errorf("%s access log contains a session id:\n%s", format, data)
		}
		if !bytes.Contains(data, []byte("/app/page?q=1")) {
			t.Errorf("%s access log lacks the request path:\n%s", format, data)
		}
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	started := make(chan struct{})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		fmt.Fprint(w, "done")
	})
	s, cancel, done := serveUntilCancel(t, oneBalancer("slow=http://"+slow.hostport(), ""))
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addrs().Listeners[0].Addr + "/")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{body: string(b)}
	}()
	<-started
	cancel() // as SIGTERM does
	r := <-res
	if r.err != nil || r.body != "done" {
		t.Errorf("in-flight request at shutdown: %q, %v; want it finished", r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestAccessLogClientBehindTrustedProxy(t *testing.T) {
	app := newBackend(t, "tomcat1", nil)
	logf := filepath.Join(t.TempDir(), "access.log")
	src := strings.Replace(oneBalancer("tomcat1=http://"+app.hostport(), ""), "http://127.0.0.1:0 {",
		"http://127.0.0.1:0 {\n\ttrusted_proxies 127.0.0.0/8\n\taccess_log "+logf+" combined", 1)
	_, site := startProxy(t, src, nil)
	testpeers.Get(t, site+"/", map[string]string{"X-Forwarded-For": "203.0.113.7"})
	data, _ := os.ReadFile(logf)
	if !bytes.HasPrefix(data, []byte("203.0.113.7 ")) {
		t.Errorf("access log behind a trusted proxy = %q; want the client 203.0.113.7 from X-Forwarded-For", data)
	}
}

// A connection that never sends a request (a browser's or a load
// balancer's preconnection) does not hold up shutdown: net/http alone would
// wait 5 s for it.
func TestShutdownClosesPreconnections(t *testing.T) {
	b := newBackend(t, "a", nil)
	s, cancel, done := serveUntilCancel(t, oneBalancer("a=http://"+b.hostport(), ""))
	pre, err := net.Dial("tcp", s.Addrs().Listeners[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close()
	// A request on another connection, so Serve is surely serving.
	if resp, _ := testpeers.Get(t, "http://"+s.Addrs().Listeners[0].Addr+"/", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %s", resp.Status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("shutdown waited on a connection that never sent a request")
	}
	pre.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := pre.Read(make([]byte, 1)); err == nil {
		t.Fatal("the preconnection was not closed")
	}
}

package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestAutoHTTPSRedirects: an https site on the default port gets an
// HTTP->HTTPS redirect listener on http_port, unless auto_https
// disable_redirects (or off) says not to: then nothing listens there.
func TestAutoHTTPSRedirects(t *testing.T) {
	for _, tc := range []struct {
		option   string
		redirect bool
	}{{"", true}, {"\tauto_https disable_redirects\n", false}, {"\tauto_https off\n", false}} {
		httpPort, httpsPort := freePort(t), freePort(t)
		src := fmt.Sprintf("{\n\tadmin off\n\thttp_port %d\n\thttps_port %d\n\tstorage file %s\n%s}\nlocalhost {\n\ttls internal\n\trespond ok\n}\n",
			httpPort, httpsPort, t.TempDir(), tc.option)
		srv, _ := startProxy(t, src, nil)
		redirect := false
		for _, l := range srv.Addrs().Listeners {
			redirect = redirect || strings.HasSuffix(l.Addr, ":"+strconv.Itoa(httpPort))
		}
		if redirect != tc.redirect {
			t.Errorf("%q: a listener on http_port %d: %v; want %v", tc.option, httpPort, redirect, tc.redirect)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(fmt.Sprintf("http://localhost:%d/x", httpPort))
		if tc.redirect {
			if err != nil || resp.StatusCode != http.StatusPermanentRedirect {
				t.Errorf("%q: plain HTTP GET: %v %v; want 308", tc.option, resp, err)
			}
		} else if err == nil {
			t.Errorf("%q: plain HTTP GET answered %d; want nothing listening", tc.option, resp.StatusCode)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

// internalRoot returns srv's internal CA root as a pool.
func internalRoot(t *testing.T, srv *Server) *x509.CertPool {
	t.Helper()
	root, _, err := srv.InternalRoot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	return pool
}

// TestServersProtocols: Caddy's servers { protocols } decides what a
// listener speaks: h1 alone keeps an https listener to HTTP/1.1 even for a
// client offering h2; h2c serves HTTP/2 without TLS (prior knowledge) on
// the listener it names, and only there.
func TestServersProtocols(t *testing.T) {
	h1Port, plainPort, otherPort := freePort(t), freePort(t), freePort(t)
	m := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	src := fmt.Sprintf(`{
	admin off
	storage file %s
	servers :%d {
		protocols h1
	}
	servers 127.0.0.1:%d {
		protocols h1 h2c
	}
}
https://localhost:%d {
	tls internal
	reverse_proxy m=http://%s
}
http://127.0.0.1:%d {
	reverse_proxy m=http://%s
}
http://127.0.0.1:%d {
	reverse_proxy m=http://%s
}
`, t.TempDir(), h1Port, plainPort, h1Port, m.hostport(), plainPort, m.hostport(), otherPort, m.hostport())
	srv, _ := startProxy(t, src, nil)

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: internalRoot(t, srv)}, ForceAttemptHTTP2: true}
	resp, err := (&http.Client{Transport: tr}).Get(fmt.Sprintf("https://localhost:%d/", h1Port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/1.1" || resp.TLS.NegotiatedProtocol == "h2" {
		t.Errorf("https listener with protocols h1: a client offering h2 got %s (ALPN %q); want HTTP/1.1", resp.Proto, resp.TLS.NegotiatedProtocol)
	}

	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: h2c, Timeout: 10 * time.Second}
	resp, err = client.Get(fmt.Sprintf("http://127.0.0.1:%d/", plainPort))
	if err != nil {
		t.Fatalf("h2c GET on the listener with protocols h2c: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || resp.StatusCode != 200 || string(body) != "HTTP/1.1" {
		t.Errorf("h2c GET = %s %d %q; want 200 over HTTP/2.0, HTTP/1.1 to the member", resp.Proto, resp.StatusCode, body)
	}
	if resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", otherPort)); err == nil {
		resp.Body.Close()
		t.Errorf("h2c GET on a listener without h2c = %s %d; want refused", resp.Proto, resp.StatusCode)
	}
}

// TestServersLimitsAndClientIP: a servers block's max_header_size bounds
// the listener's request heads (431 beyond), its trusted_proxies are the
// sites' and client_ip_headers says where a trusted proxy's client address
// is read (client_ip matchers, ip_hash, the access log).
func TestServersLimitsAndClientIP(t *testing.T) {
	src := `{
	admin off
	servers {
		max_header_size 2KiB
		trusted_proxies static 127.0.0.1/32
		client_ip_headers X-Real-IP
	}
}
http://127.0.0.1:0 {
	@office client_ip 203.0.113.0/24
	respond @office "office"
	respond "elsewhere"
}
`
	_, site := startProxy(t, src, nil)
	for _, tc := range []struct {
		hdr  map[string]string
		want string
	}{
		{map[string]string{"X-Real-IP": "203.0.113.7"}, "office"},
		{map[string]string{"X-Real-IP": "198.51.100.7"}, "elsewhere"},
		// Only the headers client_ip_headers names count.
		{map[string]string{"X-Forwarded-For": "203.0.113.7"}, "elsewhere"},
	} {
		if _, body := testpeers.Get(t, site+"/", tc.hdr); body != tc.want {
			t.Errorf("GET with %v = %q; want %q", tc.hdr, body, tc.want)
		}
	}
	// net/http allows some KiB over MaxHeaderBytes; the default limit is
	// 64 KiB.
	resp, _ := testpeers.Get(t, site+"/", map[string]string{"X-Big": strings.Repeat("b", 5<<10)})
	if resp.StatusCode != 200 {
		t.Errorf("a 5 KiB header under max_header_size 2KiB: %d; want 200", resp.StatusCode)
	}
	resp, _ = testpeers.Get(t, site+"/", map[string]string{"X-Big": strings.Repeat("b", 10<<10)})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 10 KiB header under max_header_size 2KiB: %d; want 431", resp.StatusCode)
	}
}

// TestServersProxyProtocol: listener_wrappers { proxy_protocol { allow } }
// is the sites' proxy_protocol: the member learns the client's address
// from the PROXY header.
func TestServersProxyProtocol(t *testing.T) {
	var xff atomic.Value
	m := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) { xff.Store(r.Header.Get("X-Forwarded-For")) })
	src := fmt.Sprintf("{\n\tadmin off\n\tservers {\n\t\tlistener_wrappers {\n\t\t\tproxy_protocol {\n\t\t\t\tallow 127.0.0.0/8\n\t\t\t}\n\t\t\ttls\n\t\t}\n\t}\n}\nhttp://127.0.0.1:0 {\n\treverse_proxy m=http://%s\n}\n", m.hostport())
	_, site := startProxy(t, src, nil)
	c, err := net.Dial("tcp", strings.TrimPrefix(site, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "PROXY TCP4 198.51.100.7 127.0.0.1 4444 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("request after a PROXY header: %q", line)
	}
	if v, _ := xff.Load().(string); v != "198.51.100.7" {
		t.Errorf("X-Forwarded-For at the member = %q; want the PROXY header's source 198.51.100.7", v)
	}
}

// TestDefaultSNIAndLocalCerts: local_certs gives a site without tls the
// internal CA's certificate (no ACME), and default_sni answers a client
// that sends no server name with that name's certificate instead of
// refusing the handshake.
func TestDefaultSNIAndLocalCerts(t *testing.T) {
	for _, sni := range []string{"", "\tdefault_sni shop.example.test\n"} {
		port := freePort(t)
		src := fmt.Sprintf("{\n\tadmin off\n\tlocal_certs\n\tstorage file %s\n%s}\nhttps://shop.example.test:%d {\n\trespond ok\n}\n", t.TempDir(), sni, port)
		srv, _ := startProxy(t, src, nil)
		roots := internalRoot(t, srv)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "shop.example.test", RootCAs: roots})
		if err != nil {
			t.Fatalf("%q: handshake for shop.example.test under local_certs: %v", sni, err)
		}
		conn.Close()
		// Without SNI (the name is checked by hand, as a client dialing
		// an IP does).
		conn, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if sni == "" {
			if err == nil {
				conn.Close()
				t.Errorf("a handshake without SNI succeeded without default_sni; want refused")
			}
		} else if err != nil {
			t.Errorf("a handshake without SNI under default_sni: %v", err)
		} else {
			if err := conn.ConnectionState().PeerCertificates[0].VerifyHostname("shop.example.test"); err != nil {
				t.Errorf("certificate for a handshake without SNI: %v; want shop.example.test's", err)
			}
			conn.Close()
		}
	}
}

// TestCaddyPlaceholders: Caddy's {client_ip} (behind a trusted proxy, the
// address it forwards), {port}, {remote}, {cookie.NAME} and {env.NAME}
// fill in per request, in respond and in header_up.
func TestCaddyPlaceholders(t *testing.T) {
	t.Setenv("TETHER_TEST_GREETING", "hello {not a placeholder}")
	var realIP atomic.Value
	m := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) { realIP.Store(r.Header.Get("X-Real-IP")) })
	src := fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:0 {
	trusted_proxies 127.0.0.1
	respond /p "{env.TETHER_TEST_GREETING}|{client_ip}|{port}|{cookie.sid}|{remote}"
	reverse_proxy /m m=http://%s {
		header_up X-Real-IP {client_ip}
	}
}
`, m.hostport())
	_, site := startProxy(t, src, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(site, "http://"))
	_, body := testpeers.Get(t, site+"/p", map[string]string{"X-Forwarded-For": "203.0.113.9", "Cookie": "a=1; sid=s-42"})
	parts := strings.Split(body, "|")
	if len(parts) != 5 || parts[0] != "hello {not a placeholder}" || parts[1] != "203.0.113.9" || parts[2] != port || parts[3] != "s-42" || !strings.HasPrefix(parts[4], "127.0.0.1:") {
		t.Errorf("respond with placeholders = %q; want the env value as it is, 203.0.113.9, %s, s-42, 127.0.0.1:PORT", body, port)
	}
	testpeers.Get(t, site+"/m", map[string]string{"X-Forwarded-For": "198.51.100.4"})
	if v, _ := realIP.Load().(string); v != "198.51.100.4" {
		t.Errorf("header_up X-Real-IP {client_ip} = %q; want 198.51.100.4 (the trusted proxy's client)", v)
	}
}

// TestGracePeriodAndShutdownDelay: Caddy's shutdown_delay is drain_delay
// (on SIGTERM /healthz says draining while the listeners still serve), and
// grace_period is shutdown_timeout (a request still running when it ends
// is cut, and Serve returns without waiting for it).
func TestGracePeriodAndShutdownDelay(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	held := make(chan struct{}, 1)
	m := newBackend(t, "m", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			held <- struct{}{}
			<-release
		}
	})
	src := strings.Replace(oneBalancer("m=http://"+m.hostport(), ""), "admin off", "admin off\n\tshutdown_delay 3s\n\tgrace_period 300ms", 1)
	s, cancel, done := serveUntilCancel(t, src)
	site := "http://" + s.Addrs().Listeners[0].Addr
	go func() {
		if resp, err := http.Get(site + "/hold"); err == nil {
			resp.Body.Close()
		}
	}()
	<-held
	cancel() // as SIGTERM does
	testpeers.WaitUntil(t, 5*time.Second, "the proxy draining", func() bool { return s.Healthy() != nil })
	if resp, _ := testpeers.Get(t, site+"/", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("a request during shutdown_delay: %d; want 200 (still serving)", resp.StatusCode)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return: grace_period did not cut the request still running")
	}
}

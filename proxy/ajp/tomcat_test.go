package ajp

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// Integration tests against real Tomcat 10 nodes (testpeers.TomcatPair:
// scripts/tomcat.sh, two nodes, jvmRoute tomcat1/tomcat2, AJP with a
// secret, the lab webapp as /lab and testdata/webapp as /tether). They run
// unless -short; when Tomcat cannot be started they fail, never skip. The
// nodes start once per test binary, on the first test that needs them, and
// TestMain stops them by PID.

const tomcatSecret = "tether-ajp-test-secret"

var tomcat struct {
	once sync.Once
	pair *testpeers.TomcatPair
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tomcat.pair != nil {
		if err := tomcat.pair.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err) // the directory stays for its logs
		}
	}
	os.Exit(code)
}

// needTomcat returns the running nodes, starting them on first use.
func needTomcat(t *testing.T) map[string]testpeers.TomcatNode {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against real Tomcat; runs without -short")
	}
	tomcat.once.Do(func() {
		tomcat.pair, tomcat.err = testpeers.StartTomcatPair(testpeers.TomcatOptions{Secret: tomcatSecret, DirPrefix: "tether-ajp-tomcat-"})
	})
	if tomcat.err != nil {
		t.Fatalf("Tomcat test nodes: %v", tomcat.err)
	}
	return tomcat.pair.Nodes()
}

func tomcatTransport(t *testing.T, cfg Config) *Transport {
	t.Helper()
	if cfg.Secret == "" {
		cfg.Secret = tomcatSecret
	}
	if cfg.ReplyTimeout == 0 {
		cfg.ReplyTimeout = 30 * time.Second
	}
	return newTransport(t, cfg)
}

// kv parses the key=value lines the lab JSPs print.
func kv(body string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(body) {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), "="); ok {
			if _, dup := m[k]; !dup {
				m[k] = v
			}
		}
	}
	return m
}

func doTomcat(t *testing.T, tr *Transport, r *http.Request) (*http.Response, map[string]string) {
	t.Helper()
	resp, err := tr.RoundTrip(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	return resp, kv(readAll(t, resp))
}

func TestTomcatSessionSticky(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{})
	for _, route := range []string{"tomcat1", "tomcat2"} {
		t.Run(route, func(t *testing.T) {
			u := "ajp://" + nodes[route].AJP + "/lab/session.jsp"
			resp, first := doTomcat(t, tr, newRequest(t, "GET", u, nil))
			if resp.StatusCode != 200 || first["node"] != route || first["counter"] != "1" {
				t.Fatalf("first request: status %d, %v", resp.StatusCode, first)
			}
			var cookie *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == "JSESSIONID" {
					cookie = c
				}
			}
			if cookie == nil || !strings.HasSuffix(cookie.Value, "."+route) {
				t.Fatalf("Set-Cookie %q; want a JSESSIONID ending in .%s", resp.Header.Values("Set-Cookie"), route)
			}
			r := newRequest(t, "GET", u, nil)
			r.AddCookie(cookie)
			_, second := doTomcat(t, tr, r)
			if second["node"] != route || second["counter"] != "2" || second["session"] != first["session"] {
				t.Errorf("second request with the cookie: %v; want node %s, counter 2, session %s", second, route, first["session"])
			}
		})
	}
	for route, n := range nodes {
		if open, idle := tr.pool(n.AJP).stats(); open != 1 || idle != 1 {
			t.Errorf("%s: pool open=%d idle=%d; want one reused connection", route, open, idle)
		}
	}
}

func TestTomcatEcho(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{})
	r := newRequest(t, "GET", "ajp://"+nodes["tomcat1"].AJP+"/lab/echo.jsp?a=1&b=x%20y", nil)
	r.Host = "shop.example.com"
	r.Header.Set("User-Agent", "tether-test")
	r.Header.Set("X-Custom", "value")
	r = r.WithContext(WithClientInfo(r.Context(), ClientInfo{Addr: "203.0.113.7", Port: 40123}))
	resp, got := doTomcat(t, tr, r)
	want := map[string]string{
		"method": "GET", "requestURI": "/lab/echo.jsp", "queryString": "a=1&b=x%20y", "secure": "false",
		"scheme": "http", "serverName": "shop.example.com", "serverPort": "80", "remoteAddr": "203.0.113.7",
		"remotePort": "40123", "header.user-agent": "tether-test", "header.X-Custom": "value", "bodyBytes": "0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("echo.jsp %s = %q; want %q", k, got[k], v)
		}
	}
	if resp.Status != "200 OK" {
		t.Errorf("Status = %q; want \"200 OK\"", resp.Status)
	}
}

func TestTomcatSecure(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{})
	edge := httpRequest("GET", "/", "10.0.0.2:5555") // the request as an ELB forwards it
	edge.Header.Set("X-Forwarded-For", "198.51.100.20")
	edge.Header.Set("X-Forwarded-Proto", "https")
	for _, tc := range []struct {
		name       string
		ci         ClientInfo
		wantSecure string
		wantAddr   string
	}{
		{name: "plain", ci: ClientInfo{Addr: "192.0.2.1"}, wantSecure: "false", wantAddr: "192.0.2.1"},
		{name: "tls client", ci: ClientInfo{Addr: "192.0.2.1", TLS: true, TLSProtocol: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", KeySize: 128},
			wantSecure: "true", wantAddr: "192.0.2.1"},
		{name: "X-Forwarded-Proto from a trusted edge", ci: ClientInfoFromRequest(edge, true), wantSecure: "true", wantAddr: "198.51.100.20"},
		{name: "X-Forwarded-Proto from anyone else", ci: ClientInfoFromRequest(edge, false), wantSecure: "false", wantAddr: "10.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, "GET", "ajp://"+nodes["tomcat2"].AJP+"/lab/echo.jsp", nil)
			r = r.WithContext(WithClientInfo(r.Context(), tc.ci))
			_, got := doTomcat(t, tr, r)
			if got["secure"] != tc.wantSecure || got["remoteAddr"] != tc.wantAddr {
				t.Errorf("echo.jsp secure=%s remoteAddr=%s; want %s %s", got["secure"], got["remoteAddr"], tc.wantSecure, tc.wantAddr)
			}
			if tc.wantSecure == "true" && got["scheme"] != "https" {
				t.Errorf("scheme = %q; want https", got["scheme"])
			}
			if tc.ci.CipherSuite != "" && got["attr.jakarta.servlet.request.cipher_suite"] != tc.ci.CipherSuite {
				t.Errorf("cipher_suite attribute = %q; want %q", got["attr.jakarta.servlet.request.cipher_suite"], tc.ci.CipherSuite)
			}
		})
	}
}

func TestTomcatLargePost(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{})
	body := make([]byte, 10<<20)
	rand.Read(body)
	sum := sha256.Sum256(body)
	r := newRequest(t, "POST", "ajp://"+nodes["tomcat1"].AJP+"/lab/echo.jsp", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/octet-stream")
	_, got := doTomcat(t, tr, r)
	if got["bodyBytes"] != strconv.Itoa(len(body)) || got["contentLength"] != strconv.Itoa(len(body)) || got["bodySha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("echo.jsp saw %s bytes (Content-Length %s), sha256 %s; want %d bytes, sha256 %x",
			got["bodyBytes"], got["contentLength"], got["bodySha256"], len(body), sum)
	}
}

func TestTomcatChunkedPost(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{})
	pr, pw := io.Pipe()
	h := sha256.New()
	total := 0
	go func() {
		for i := range 40 { // uneven writes, as a client's chunks would arrive
			b := bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i*97)
			h.Write(b)
			total += len(b)
			if _, err := pw.Write(b); err != nil {
				return
			}
		}
		pw.Close()
	}()
	r := newRequest(t, "POST", "ajp://"+nodes["tomcat2"].AJP+"/lab/echo.jsp", pr)
	r.ContentLength = -1
	_, got := doTomcat(t, tr, r)
	if want := hex.EncodeToString(h.Sum(nil)); got["bodySha256"] != want || got["bodyBytes"] != strconv.Itoa(total) {
		t.Errorf("echo.jsp saw %s bytes, sha256 %s; want %d, %s", got["bodyBytes"], got["bodySha256"], total, want)
	}
	if got["contentLength"] != "-1" {
		t.Errorf("contentLength = %s; want -1 (unknown)", got["contentLength"])
	}
}

func TestTomcatPatch(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{})
	body := `{"op":"replace"}`
	r := newRequest(t, "PATCH", "ajp://"+nodes["tomcat1"].AJP+"/tether/method.jsp", strings.NewReader(body))
	resp, got := doTomcat(t, tr, r)
	sum := sha256.Sum256([]byte(body))
	// 405 is the JSP gate; the error page then reports what Tomcat received.
	if resp.StatusCode != http.StatusMethodNotAllowed || got["method"] != "PATCH" || got["bodySha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("PATCH: status %d, %v; want 405 from the JSP with method=PATCH and the body", resp.StatusCode, got)
	}
	for _, m := range []string{"PUT", "DELETE", "PROPFIND"} {
		resp, got := doTomcat(t, tr, newRequest(t, m, "ajp://"+nodes["tomcat1"].AJP+"/tether/method.jsp", nil))
		if got["method"] != m {
			t.Errorf("%s: status %d, method=%q", m, resp.StatusCode, got["method"])
		}
	}
}

func TestTomcatStream(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{})

	// stream.jsp: 512 KiB in many SEND_BODY_CHUNK packets, no Content-Length.
	resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://"+nodes["tomcat1"].AJP+"/lab/stream.jsp?kb=512", nil))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	n, err := resp.Body.Read(buf)
	if err != nil || n == 0 || n > 8184 {
		t.Errorf("first Read = %d bytes, %v; want one chunk (at most 8184 bytes)", n, err)
	}
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || n+len(rest) < 512*1024 || n+len(rest) > 512*1024+1 || resp.ContentLength != -1 { // +1: the newline after the JSP
		t.Errorf("stream.jsp: %d bytes, %v, ContentLength %d; want %d bytes", n+len(rest), err, resp.ContentLength, 512*1024)
	}

	// drip.jsp through httputil.ReverseProxy with FlushInterval -1: the first
	// line reaches the client while Tomcat still sleeps before the next.
	target := &url.URL{Scheme: "ajp", Host: nodes["tomcat1"].AJP}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = pr.In.Host },
		Transport:     tr,
		FlushInterval: -1,
	}
	front := httptest.NewServer(rp)
	defer front.Close()
	start := time.Now()
	res, err := front.Client().Get(front.URL + "/tether/drip.jsp?n=3&ms=700")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	first, err := br.ReadString('\n')
	firstAt := time.Since(start)
	if err != nil || !strings.HasPrefix(first, "line=0") {
		t.Fatalf("first line %q, %v", first, err)
	}
	all, err := io.ReadAll(br)
	doneAt := time.Since(start)
	if err != nil || strings.Count(string(all), "line=") != 2 {
		t.Fatalf("rest %q, %v", all, err)
	}
	if doneAt-firstAt < time.Second {
		t.Errorf("first line after %v, end after %v; want the first line at least 1 s before the end (progressive)", firstAt, doneAt)
	}
}

func TestTomcatWrongSecret(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{Secret: "not-the-secret", ReplyTimeout: 10 * time.Second})
	start := time.Now()
	resp, err := tr.RoundTrip(newRequest(t, "GET", "ajp://"+nodes["tomcat1"].AJP+"/lab/info.jsp", nil))
	if err == nil {
		readAll(t, resp)
		t.Fatalf("RoundTrip with a wrong secret = status %d; want ErrRefused (Tomcat's 403 with the connection closed)", resp.StatusCode)
	}
	if !errors.Is(err, ErrRefused) {
		t.Errorf("RoundTrip with a wrong secret = %v; want ErrRefused", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v; want a prompt answer", el)
	}
}

func TestTomcatBigResponseHeader(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{ReplyTimeout: 2 * time.Second})
	base := "ajp://" + nodes["tomcat2"].AJP + "/lab/bigheader.jsp?bytes="
	resp, got := doTomcat(t, tr, newRequest(t, "GET", base+"4000", nil))
	if resp.StatusCode != 200 || len(resp.Header.Get("X-Big")) != 4000 || got["headerBytes"] != "4000" {
		t.Fatalf("4000-byte header: status %d, X-Big %d bytes", resp.StatusCode, len(resp.Header.Get("X-Big")))
	}
	// 20000 bytes do not fit a packet: Tomcat logs it and stays silent.
	start := time.Now()
	_, err := tr.RoundTrip(newRequest(t, "GET", base+"20000", nil))
	el := time.Since(start)
	if !errors.Is(err, ErrReplyTimeout) {
		t.Fatalf("20000-byte header: %v; want ErrReplyTimeout", err)
	}
	if el < 2*time.Second || el > 6*time.Second {
		t.Errorf("timed out after %v; want about the 2 s ReplyTimeout", el)
	}
	// The node still serves.
	if resp, _ := doTomcat(t, tr, newRequest(t, "GET", "ajp://"+nodes["tomcat2"].AJP+"/lab/info.jsp", nil)); resp.StatusCode != 200 {
		t.Errorf("after the timeout: status %d", resp.StatusCode)
	}
}

func TestTomcatPing(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{PingTimeout: 2 * time.Second})
	for route, n := range nodes {
		if err := tr.Ping(t.Context(), n.AJP); err != nil {
			t.Errorf("Ping(%s AJP %s) = %v", route, n.AJP, err)
		}
		// The HTTP connector answers CPING with an HTTP error, not CPONG.
		if err := tr.Ping(t.Context(), n.HTTP); err == nil {
			t.Errorf("Ping(%s HTTP port %s) succeeded; want an error", route, n.HTTP)
		}
	}
}

func TestTomcatManyRequestsOneConnection(t *testing.T) {
	nodes := needTomcat(t)
	tr := tomcatTransport(t, Config{})
	addr := nodes["tomcat1"].AJP
	for i := range 50 {
		m := "GET"
		var body io.Reader
		if i%3 == 1 {
			m, body = "POST", strings.NewReader(strings.Repeat("x", i*300))
		}
		resp, got := doTomcat(t, tr, newRequest(t, m, "ajp://"+addr+"/lab/echo.jsp", body))
		if resp.StatusCode != 200 || got["method"] != m {
			t.Fatalf("request %d: status %d method %q", i, resp.StatusCode, got["method"])
		}
		if i == 10 {
			if resp, _ := doTomcat(t, tr, newRequest(t, "HEAD", "ajp://"+addr+"/lab/info.jsp", nil)); resp.StatusCode != 200 {
				t.Fatalf("HEAD: status %d", resp.StatusCode)
			}
		}
	}
	if open, idle := tr.pool(addr).stats(); open != 1 || idle != 1 {
		t.Errorf("pool open=%d idle=%d after 51 sequential requests; want 1 1", open, idle)
	}
}

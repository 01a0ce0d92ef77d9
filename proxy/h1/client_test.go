package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newClient is a client of addr as proxy/transport.go sets one up, with
// a fallback that fails the test.
func newClient(t testing.TB, addr string) *Client {
	d := &net.Dialer{}
	c := &Client{
		Addr:     addr,
		Dial:     d.DialContext,
		Fallback: failingFallback{t},
		MaxIdle:  8,
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// countedServer is an httptest server that counts the connections made
// to it and closed.
type countedServer struct {
	*httptest.Server
	opened, closed atomic.Int32
}

func newCountedServer(t testing.TB, h http.HandlerFunc) *countedServer {
	s := &countedServer{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *countedServer) addr() string { return strings.TrimPrefix(s.URL, "http://") }

// rawMember is a member on loopback that answers with whatever serve
// writes on each connection.
type rawMember struct {
	ln       net.Listener
	accepted atomic.Int32
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newRawMember(t testing.TB, serve func(c net.Conn, br *bufio.Reader)) *rawMember {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &rawMember{ln: ln}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			m.accepted.Add(1)
			m.mu.Lock()
			m.conns = append(m.conns, c)
			m.wg.Add(1)
			m.mu.Unlock()
			go func() {
				defer m.wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		m.mu.Lock()
		for _, c := range m.conns {
			c.Close()
		}
		m.mu.Unlock()
		m.wg.Wait()
	})
	return m
}

func (m *rawMember) addr() string { return m.ln.Addr().String() }

// answerEach answers every request on the connection with answer.
func answerEach(answer string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for readHead(br) == nil {
			if _, err := io.WriteString(c, answer); err != nil {
				return
			}
		}
	}
}

func request(t testing.TB, ctx context.Context, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// fetch sends a request and reads its answer to the end.
func fetch(t testing.TB, rt http.RoundTripper, method, url string) (*http.Response, string) {
	t.Helper()
	resp, err := rt.RoundTrip(request(t, context.Background(), method, url))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, string(b)
}

func TestKeepAliveReuse(t *testing.T) {
	s := newCountedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.URL.Path) })
	c := newClient(t, s.addr())
	for i := range 50 {
		path := "/" + strconv.Itoa(i)
		if _, body := fetch(t, c, http.MethodGet, s.URL+path); body != "hello "+path {
			t.Fatalf("GET %s: %q", path, body)
		}
	}
	if n := s.opened.Load(); n != 1 {
		t.Errorf("50 GETs opened %d connections, want 1", n)
	}
	if n := c.IdleConns(); n != 1 {
		t.Errorf("%d idle connections after, want 1", n)
	}
}

// answerView is what a caller sees of an answer, its body read (the Date
// field left out: two servers' clocks may tick between them).
type answerView struct {
	Status           string
	Proto            string
	Header, Trailer  http.Header
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	Body             string
}

func viewOf(resp *http.Response, body string) answerView {
	h := resp.Header.Clone()
	h.Del("Date")
	return answerView{resp.Status, resp.Proto, h, resp.Trailer, resp.ContentLength, resp.TransferEncoding, resp.Close, body}
}

// TestAnswersLikeNetHTTP: for each kind of answer, the client gives what
// net/http's Transport gives, and two requests in a row take as many
// connections with one as with the other.
func TestAnswersLikeNetHTTP(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	type member func(t *testing.T) (addr string, conns func() int32)
	served := func(h http.HandlerFunc) member {
		return func(t *testing.T) (string, func() int32) {
			s := newCountedServer(t, h)
			return s.addr(), s.opened.Load
		}
	}
	raw := func(answer string) member {
		return func(t *testing.T) (string, func() int32) {
			m := newRawMember(t, func(c net.Conn, br *bufio.Reader) {
				if readHead(br) == nil {
					io.WriteString(c, answer)
				}
			})
			return m.addr(), m.accepted.Load
		}
	}
	for _, tc := range []struct {
		name   string
		method string
		member member
		conns  int32 // for two requests
		check  func(t *testing.T, v answerView)
	}{
		{"chunked with trailers", "GET", served(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Trailer", "X-Sum")
			for _, s := range []string{"one ", "two ", "three"} {
				io.WriteString(w, s)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", "42")
		}), 1, func(t *testing.T, v answerView) {
			if v.Body != "one two three" || v.Trailer.Get("X-Sum") != "42" || len(v.TransferEncoding) == 0 {
				t.Errorf("body %q, trailer %v, transfer encoding %v", v.Body, v.Trailer, v.TransferEncoding)
			}
		}},
		{"HEAD with a length", "HEAD", served(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }), 1,
			func(t *testing.T, v answerView) {
				if v.ContentLength != 5 || v.Body != "" {
					t.Errorf("length %d, body %q", v.ContentLength, v.Body)
				}
			}},
		// net/http's server answers a HEAD whose handler wrote nothing
		// with no Content-Length, and keeps the connection.
		{"HEAD without a length", "HEAD", served(func(http.ResponseWriter, *http.Request) {}), 1,
			func(t *testing.T, v answerView) {
				if v.ContentLength != -1 || v.Close {
					t.Errorf("length %d, close %v", v.ContentLength, v.Close)
				}
			}},
		{"204", "GET", served(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }), 1,
			func(t *testing.T, v answerView) {
				if v.Status != "204 No Content" {
					t.Errorf("status %q", v.Status)
				}
			}},
		{"304", "GET", served(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		}), 1, func(t *testing.T, v answerView) {
			if v.Status != "304 Not Modified" || v.Header.Get("ETag") != `"v1"` {
				t.Errorf("status %q, header %v", v.Status, v.Header)
			}
		}},
		{"Content-Length 0", "GET", served(func(http.ResponseWriter, *http.Request) {}), 1,
			func(t *testing.T, v answerView) {
				if v.ContentLength != 0 || v.Header.Get("Content-Length") != "0" {
					t.Errorf("length %d, header %v", v.ContentLength, v.Header)
				}
			}},
		{"1 MiB with a length", "GET", served(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		}), 1, func(t *testing.T, v answerView) {
			if v.Body != string(big) || v.ContentLength != int64(len(big)) {
				t.Errorf("body of %d bytes, length %d", len(v.Body), v.ContentLength)
			}
		}},
		{"1 MiB chunked", "GET", served(func(w http.ResponseWriter, _ *http.Request) {
			for i := 0; i < len(big); i += 100000 {
				w.Write(big[i:min(i+100000, len(big))])
			}
		}), 1, func(t *testing.T, v answerView) {
			if v.Body != string(big) || v.ContentLength != -1 {
				t.Errorf("body of %d bytes, length %d", len(v.Body), v.ContentLength)
			}
		}},
		{"Connection: close", "GET", served(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}), 2, func(t *testing.T, v answerView) {
			if !v.Close || v.Body != "bye" {
				t.Errorf("close %v, body %q", v.Close, v.Body)
			}
		}},
		{"HTTP/1.0 without keep-alive", "GET", raw("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"), 2,
			func(t *testing.T, v answerView) {
				if !v.Close || v.Body != "until the end" || v.Proto != "HTTP/1.0" {
					t.Errorf("close %v, body %q, proto %s", v.Close, v.Body, v.Proto)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var views [2]answerView
			var conns [2]int32
			for i, name := range []string{"h1", "net/http"} {
				addr, opened := tc.member(t)
				var rt http.RoundTripper = newClient(t, addr)
				if i == 1 {
					tr := &http.Transport{DisableCompression: true}
					t.Cleanup(tr.CloseIdleConnections)
					rt = tr
				}
				resp, body := fetch(t, rt, tc.method, "http://"+addr+"/")
				views[i] = viewOf(resp, body)
				if c, ok := rt.(*Client); ok && (c.IdleConns() == 1) != (tc.conns == 1) {
					t.Errorf("h1 keeps %d idle connections after the answer", c.IdleConns())
				}
				if _, body2 := fetch(t, rt, tc.method, "http://"+addr+"/"); body2 != body {
					t.Errorf("%s: second answer %q, first %q", name, body2, body)
				}
				conns[i] = opened()
			}
			if !reflect.DeepEqual(views[0], views[1]) {
				t.Errorf("answers differ:\nh1:       %s\nnet/http: %s", short(views[0]), short(views[1]))
			}
			tc.check(t, views[0])
			if conns[0] != conns[1] || conns[0] != tc.conns {
				t.Errorf("two requests took %d connections with h1, %d with net/http, want %d", conns[0], conns[1], tc.conns)
			}
		})
	}
}

func short(v answerView) string {
	if len(v.Body) > 64 {
		v.Body = v.Body[:64] + "…"
	}
	return fmt.Sprintf("%+v", v)
}

// TestEarlyHints: a 103 reaches the request's Got1xxResponse hook with
// its Link field, and the final answer follows.
func TestEarlyHints(t *testing.T) {
	s := newCountedServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "page")
	})
	c := newClient(t, s.addr())
	var codes []int
	var links []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			codes = append(codes, code)
			links = append(links, h.Get("Link"))
			return nil
		},
	})
	resp, err := c.RoundTrip(request(t, ctx, http.MethodGet, s.URL))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(body) != "page" {
		t.Fatalf("final answer %d %q, %v", resp.StatusCode, body, err)
	}
	if !reflect.DeepEqual(codes, []int{103}) || links[0] != "</app.css>; rel=preload; as=style" {
		t.Errorf("Got1xxResponse saw %v with Link %q", codes, links)
	}
	if resp.Header.Get("Link") != "" {
		t.Errorf("the final answer has the hint's Link: %v", resp.Header)
	}
}

func TestInformationalLimit(t *testing.T) {
	hints := func(n int) string {
		return strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n", n) +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	}
	five := newRawMember(t, answerEach(hints(5)))
	var seen int
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(int, textproto.MIMEHeader) error { seen++; return nil },
	})
	resp, err := newClient(t, five.addr()).RoundTrip(request(t, ctx, http.MethodGet, "http://"+five.addr()+"/"))
	if err != nil {
		t.Fatalf("five 1xx answers: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || seen != 5 {
		t.Errorf("five 1xx answers: status %d, %d seen", resp.StatusCode, seen)
	}

	six := newRawMember(t, answerEach(hints(6)))
	resp, err = newClient(t, six.addr()).RoundTrip(request(t, bounded(t), http.MethodGet, "http://"+six.addr()+"/"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("six 1xx answers: status %d, want an error", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "103") {
		t.Errorf("error %q does not name the 1xx", err)
	}
}

// bounded is a context that ends a test's wait for a client that would
// otherwise wait for ever (a member that sent all it will send).
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSwitchingProtocolsRefused(t *testing.T) {
	m := newRawMember(t, answerEach("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
	resp, err := newClient(t, m.addr()).RoundTrip(request(t, bounded(t), http.MethodGet, "http://"+m.addr()+"/"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a 101 to a GET without Upgrade gave %d, want an error", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "101") {
		t.Errorf("error %q does not name the 101", err)
	}
}

// closingMember answers one request per connection, without
// "Connection: close", closes the connection and says so on closed.
func closingMember(t *testing.T) (*rawMember, chan struct{}) {
	closed := make(chan struct{}, 16)
	m := newRawMember(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) == nil {
			io.WriteString(c, okAnswer)
		}
		c.Close()
		closed <- struct{}{}
	})
	return m, closed
}

// noPeek hides a connection's file descriptor, so alive cannot look at
// it: as on systems without the peek, with a wrapping Dial, or when the
// member closes a connection between the check and the write.
type noPeek struct{ net.Conn }

// TestMemberClosedKeptAlive: a member closed a kept-alive connection the
// client still holds, and the client writes on it. A GET is sent again on
// a new connection. A bodyless POST is not: its write succeeds (the kernel
// takes the bytes; the member's reset comes after) and only then does the
// read find the connection closed, so the POST fails (net/http, whose read
// loop sees the close while the connection is idle, would in most cases
// have dropped it before); with an Idempotency-Key it is sent again.
func TestMemberClosedKeptAlive(t *testing.T) {
	m, closed := closingMember(t)
	c := newClient(t, m.addr())
	dial := c.Dial
	c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return noPeek{nc}, nil
	}
	url := "http://" + m.addr() + "/"
	if _, body := fetch(t, c, http.MethodGet, url); body != "ok" {
		t.Fatalf("first GET: %q", body)
	}
	<-closed
	if n := c.IdleConns(); n != 1 {
		t.Fatalf("%d idle connections, want the one the member closed", n)
	}
	if _, body := fetch(t, c, http.MethodGet, url); body != "ok" {
		t.Fatalf("GET on the closed connection: %q", body)
	}
	if n := m.accepted.Load(); n != 2 {
		t.Errorf("the GET took %d connections in all, want 2 (sent again on a new one)", n)
	}

	<-closed
	resp, err := c.RoundTrip(request(t, context.Background(), http.MethodPost, url))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a POST written on the closed connection got %d; want an error (it must not be sent twice)", resp.StatusCode)
	}
	if n := m.accepted.Load(); n != 2 {
		t.Errorf("the POST was sent again on a new connection (%d in all)", n)
	}
	t.Logf("POST on a connection the member closed: %v", err)

	if _, body := fetch(t, c, http.MethodGet, url); body != "ok" { // pools a connection again
		t.Fatalf("GET: %q", body)
	}
	<-closed
	req := request(t, context.Background(), http.MethodPost, url)
	req.Header.Set("Idempotency-Key", "k1")
	resp, err = c.RoundTrip(req)
	if err != nil {
		t.Fatalf("a POST with an Idempotency-Key on the closed connection: %v (want it sent again)", err)
	}
	resp.Body.Close()
}

// waitPeerClosed waits until the member's close of the client's idle
// connection has reached it (alive sees it).
func waitPeerClosed(t *testing.T, c *Client) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		c.mu.Lock()
		gone := len(c.idle) == 1 && !alive(c.idle[0].nc)
		c.mu.Unlock()
		if gone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the member's close did not reach the idle connection")
		}
	}
}

// TestClosedIdleConnectionDiscarded: an idle connection the member closed
// is found closed before use (the peek), so even a POST, which is never
// sent twice, goes on a new connection, as with net/http.
func TestClosedIdleConnectionDiscarded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the idle connection check (alive) peeks on Linux only")
	}
	m, closed := closingMember(t)
	c := newClient(t, m.addr())
	url := "http://" + m.addr() + "/"
	for i := range 3 {
		fetch(t, c, http.MethodGet, url)
		<-closed
		waitPeerClosed(t, c)
		if _, body := fetch(t, c, http.MethodPost, url); body != "ok" {
			t.Fatalf("POST: %q", body)
		}
		<-closed
		if n := m.accepted.Load(); n != int32(2*(i+1)) {
			t.Fatalf("%d connections, want %d", n, 2*(i+1))
		}
		waitPeerClosed(t, c)
		c.CloseIdleConnections()
	}
}

// TestUnaskedBytesNotAnAnswer: bytes a member sends after an answer
// (here a whole second answer after "hello", as from a member that wrote
// its response twice) are not taken for the answer to the next request
// on the connection, which may be another user's: the connection is
// dropped and the request goes on a new one, as with net/http (whose
// read loop finds them while the connection is idle).
func TestUnaskedBytesNotAnAnswer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the idle connection check (alive) peeks on Linux only")
	}
	sent := make(chan struct{}, 1)
	var conns atomic.Int32
	m := newRawMember(t, func(c net.Conn, br *bufio.Reader) {
		if conns.Add(1) > 1 {
			answerEach("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")(c, br)
			return
		}
		if readHead(br) != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
		time.Sleep(20 * time.Millisecond) // after the client has read the answer
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
		sent <- struct{}{}
		io.Copy(io.Discard, br)
	})
	c := newClient(t, m.addr())
	url := "http://" + m.addr() + "/"
	if _, body := fetch(t, c, http.MethodGet, url); body != "hello" {
		t.Fatalf("first answer %q", body)
	}
	<-sent
	time.Sleep(20 * time.Millisecond) // for the bytes to reach the client's socket
	if _, body := fetch(t, c, http.MethodGet, url); body != "real" {
		t.Fatalf("second answer %q, want %q (its own, on a new connection)", body, "real")
	}
}

func TestAlive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("alive peeks on Linux only")
	}
	pair := func() (client, member net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		client, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		member, err = ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close(); member.Close() })
		return client, member
	}
	eventuallyDead := func(what string, c net.Conn) {
		for deadline := time.Now().Add(5 * time.Second); alive(c); {
			if time.Now().After(deadline) {
				t.Fatalf("alive after %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	c, _ := pair()
	if !alive(c) {
		t.Fatal("an open idle connection is not alive")
	}
	c, mc := pair()
	mc.Close()
	eventuallyDead("the member closed it", c)
	c, mc = pair()
	io.WriteString(mc, "HTTP/1.1 408 Request Timeout\r\n\r\n")
	eventuallyDead("the member sent bytes unasked", c)
}

// silentMember reads requests and never answers; got receives each
// request read.
func silentMember(t *testing.T) (*rawMember, chan struct{}) {
	got := make(chan struct{}, 16)
	m := newRawMember(t, func(c net.Conn, br *bufio.Reader) {
		for readHead(br) == nil {
			got <- struct{}{}
		}
	})
	return m, got
}

func TestResponseHeaderTimeout(t *testing.T) {
	m, _ := silentMember(t)
	c := newClient(t, m.addr())
	c.ResponseHeaderTimeout = 200 * time.Millisecond
	resp, err := c.RoundTrip(request(t, context.Background(), http.MethodGet, "http://"+m.addr()+"/"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("a member that never answers gave an answer")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v (%T) is not a timeout", err, err)
	}
	if n := c.IdleConns(); n != 0 {
		t.Errorf("%d idle connections after a timeout", n)
	}
}

// TestResponseHeaderTimeoutNotResent: a GET that timed out waiting for
// its head on a kept-alive connection is not sent again (net/http does
// not either): the member has it, and is slow, not gone.
func TestResponseHeaderTimeoutNotResent(t *testing.T) {
	var reqs atomic.Int32
	m := newRawMember(t, func(c net.Conn, br *bufio.Reader) {
		for readHead(br) == nil {
			if reqs.Add(1) == 1 {
				io.WriteString(c, okAnswer)
			}
		}
	})
	c := newClient(t, m.addr())
	c.ResponseHeaderTimeout = 200 * time.Millisecond
	url := "http://" + m.addr() + "/"
	fetch(t, c, http.MethodGet, url)
	resp, err := c.RoundTrip(request(t, context.Background(), http.MethodGet, url))
	if err == nil {
		resp.Body.Close()
		t.Fatal("a member that never answers gave an answer")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v is not a timeout", err)
	}
	if n := reqs.Load(); n != 2 {
		t.Errorf("the member got %d requests, want 2: the one that timed out was sent again", n)
	}
}

// TestSlowBodyStreams: ResponseHeaderTimeout bounds the wait for the head
// only; a body whose parts come further apart (server-sent events) is
// read to its end.
func TestSlowBodyStreams(t *testing.T) {
	s := newCountedServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i > 0 {
				time.Sleep(300 * time.Millisecond)
			}
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	})
	c := newClient(t, s.addr())
	c.ResponseHeaderTimeout = 200 * time.Millisecond
	_, body := fetch(t, c, http.MethodGet, s.URL)
	if want := "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n"; body != want {
		t.Fatalf("got %q, want %q", body, want)
	}
}

func TestCancelWaitingForHead(t *testing.T) {
	m, got := silentMember(t)
	c := newClient(t, m.addr())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-got // the member has the request
		cancel()
	}()
	resp, err := c.RoundTrip(request(t, ctx, http.MethodGet, "http://"+m.addr()+"/"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("got an answer from a member that never answers")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if n := c.IdleConns(); n != 0 {
		t.Errorf("%d idle connections after a cancelled request", n)
	}
}

func TestCancelMidBody(t *testing.T) {
	release := make(chan struct{})
	s := newCountedServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := newClient(t, s.addr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := c.RoundTrip(request(t, ctx, http.MethodGet, s.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
		t.Fatalf("first part %q, %v", first, err)
	}
	cancel()
	_, err = resp.Body.Read(make([]byte, 10))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after the cancel: %v, want context.Canceled", err)
	}
	if n := c.IdleConns(); n != 0 {
		t.Errorf("%d idle connections after a cancelled body", n)
	}
	for deadline := time.Now().Add(5 * time.Second); s.closed.Load() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the member's connection was not closed")
		}
	}
}

func TestMaxResponseHeaderBytes(t *testing.T) {
	s := newCountedServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("a", 2<<10))
	})
	c := newClient(t, s.addr())
	c.MaxResponseHeaderBytes = 1 << 10
	resp, err := c.RoundTrip(request(t, context.Background(), http.MethodGet, s.URL))
	if err == nil {
		resp.Body.Close()
		t.Fatal("a 2 KiB head passed a 1 KiB limit")
	}
	if !strings.Contains(err.Error(), "1024") {
		t.Errorf("error %q does not say the limit", err)
	}
	c.MaxResponseHeaderBytes = 4 << 10
	if resp, _ := fetch(t, c, http.MethodGet, s.URL); len(resp.Header.Get("X-Big")) != 2<<10 {
		t.Errorf("a 2 KiB head under a 4 KiB limit: X-Big of %d bytes", len(resp.Header.Get("X-Big")))
	}

	// 0: net/http's default, 1 MiB, and the error says so.
	huge := newCountedServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Huge", strings.Repeat("a", 1<<20))
	})
	c = newClient(t, huge.addr())
	resp, err = c.RoundTrip(request(t, context.Background(), http.MethodGet, huge.URL))
	if err == nil {
		resp.Body.Close()
		t.Fatal("a head of more than 1 MiB passed the default limit")
	}
	if !strings.Contains(err.Error(), "1048576") {
		t.Errorf("error %q does not say the default limit", err)
	}
}

// TestBodyCloseAndEOF: a body closed before its end closes its
// connection; one read to its end gives it back to the pool.
func TestBodyCloseAndEOF(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	s := newCountedServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, big) })
	c := newClient(t, s.addr())
	resp, err := c.RoundTrip(request(t, context.Background(), http.MethodGet, s.URL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := c.IdleConns(); n != 0 {
		t.Fatalf("%d idle connections after a body closed early", n)
	}
	for i := range 3 {
		if _, body := fetch(t, c, http.MethodGet, s.URL); body != big {
			t.Fatalf("GET %d: body of %d bytes", i, len(body))
		}
		if n := c.IdleConns(); n != 1 {
			t.Fatalf("%d idle connections after a body read to its end", n)
		}
	}
	if n := s.opened.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the one closed early, then one reused", n)
	}

	// Closed when all that came of the body so far has been read (the
	// connection's buffer is empty, the rest is yet to come).
	m := newRawMember(t, func(c net.Conn, br *bufio.Reader) {
		if readHead(br) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789")
			io.Copy(io.Discard, br)
		}
	})
	c = newClient(t, m.addr())
	resp, err = c.RoundTrip(request(t, bounded(t), http.MethodGet, "http://"+m.addr()+"/"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := c.IdleConns(); n != 0 {
		t.Fatalf("%d idle connections after a body closed half read", n)
	}
}

// recordingFallback answers 299 and keeps the requests it got.
type recordingFallback struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (f *recordingFallback) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	return &http.Response{StatusCode: 299, Body: http.NoBody, Request: req}, nil
}

func TestFallback(t *testing.T) {
	fb := &recordingFallback{}
	c := &Client{
		Addr: "127.0.0.1:1",
		Dial: func(context.Context, string, string) (net.Conn, error) {
			t.Error("the client dialed for a request that is the fallback's")
			return nil, errors.New("no dialing")
		},
		Fallback: fb,
	}
	newReq := func(method, url string, body io.Reader) *http.Request {
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	upgrade := newReq("GET", "http://m/ws", nil)
	upgrade.Header.Set("Connection", "Upgrade")
	upgrade.Header.Set("Upgrade", "websocket")
	idn := newReq("GET", "http://m/", nil)
	idn.Host = "bücher.example"
	trailer := newReq("GET", "http://m/", nil)
	trailer.Trailer = http.Header{"X-T": nil}
	closing := newReq("GET", "http://m/", nil)
	closing.Close = true
	for name, req := range map[string]*http.Request{
		"a body":             newReq("POST", "http://m/form", strings.NewReader("a=1")),
		"an Upgrade":         upgrade,
		"CONNECT":            newReq("CONNECT", "http://m:443", nil),
		"a non-ASCII host":   idn,
		"https":              newReq("GET", "https://m/", nil),
		"trailers":           trailer,
		"Close":              closing,
		"an opaque target":   {Method: "GET", URL: &url.URL{Scheme: "http", Opaque: "//m/x"}, Header: http.Header{}},
		"a zone in the host": newReq("GET", "http://[fe80::1%25eth0]:80/", nil),
	} {
		fb.reqs = nil
		if Carries(req) {
			t.Errorf("Carries a request with %s", name)
		}
		resp, err := c.RoundTrip(req)
		if err != nil || resp.StatusCode != 299 || len(fb.reqs) != 1 || fb.reqs[0] != req {
			t.Errorf("a request with %s: %v, %v; the fallback got %d", name, resp, err, len(fb.reqs))
		}
	}
	for _, req := range []*http.Request{
		newReq("GET", "http://m/", nil),
		newReq("POST", "http://m/", http.NoBody),
		newReq("DELETE", "http://[::1]:8080/x?y", nil),
	} {
		if !Carries(req) {
			t.Errorf("does not carry %s %s", req.Method, req.URL)
		}
	}
}

func TestDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := newClient(t, addr)
	resp, err := c.RoundTrip(request(t, context.Background(), http.MethodGet, "http://"+addr+"/"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("an answer from nowhere")
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("error %v (%T), want a *net.OpError with Op dial", err, err)
	}
}

func TestInvalidHeaderValue(t *testing.T) {
	s := newCountedServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	bad := func() *http.Request {
		req := request(t, context.Background(), http.MethodGet, s.URL)
		req.Header.Set("X-Injected", "a\nSet-Cookie: b")
		return req
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	_, want := tr.RoundTrip(bad())
	if want == nil {
		t.Fatal("net/http sent a value with a line feed")
	}
	c := newClient(t, s.addr())
	_, err := c.RoundTrip(bad())
	if err == nil || err.Error() != want.Error() {
		t.Fatalf("error %v, want net/http's %v", err, want)
	}
}

// TestRefusedRequestKeepsConnection: a request refused before it is sent
// (a field net/http would not write, a context already done) leaves the
// pool as it was: no idle connection closed, none dialed.
func TestRefusedRequestKeepsConnection(t *testing.T) {
	s := newCountedServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	c := newClient(t, s.addr())
	var dials atomic.Int32
	dial := c.Dial
	c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr)
	}
	fetch(t, c, http.MethodGet, s.URL)
	badValue := request(t, context.Background(), http.MethodGet, s.URL)
	badValue.Header.Set("X-Injected", "a\nb")
	badQuery := request(t, context.Background(), http.MethodGet, s.URL)
	badQuery.URL.RawQuery = "a=\x00"
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"a line feed in a value", badValue},
		{"a control byte in the query", badQuery},
		{"a cancelled context", request(t, done, http.MethodGet, s.URL)},
	} {
		if resp, err := c.RoundTrip(tc.req); err == nil {
			resp.Body.Close()
			t.Fatalf("a request with %s was sent", tc.name)
		}
		if n, d := c.IdleConns(), dials.Load(); n != 1 || d != 1 {
			t.Fatalf("after a request with %s: %d idle connections, %d dialed in all; want the first one, idle", tc.name, n, d)
		}
	}
}

func TestConcurrent(t *testing.T) {
	s := newCountedServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Query().Get("i")) })
	c := newClient(t, s.addr())
	c.MaxIdle = 4
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := fmt.Sprintf("%d-%d", g, i)
				resp, err := c.RoundTrip(request(t, context.Background(), http.MethodGet, s.URL+"/?i="+id))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != id {
					errs <- fmt.Errorf("request %s got %q, %v", id, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := c.IdleConns(); n > c.MaxIdle {
		t.Errorf("%d idle connections, MaxIdle %d", n, c.MaxIdle)
	}
}

// TestIdleSweep: connections idle for longer than IdleTimeout are closed
// with no request to find them.
func TestIdleSweep(t *testing.T) {
	s := newCountedServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	c := newClient(t, s.addr())
	c.IdleTimeout = 100 * time.Millisecond
	// Four answers open at once: four connections, then four idle.
	var resps []*http.Response
	for range 4 {
		resp, err := c.RoundTrip(request(t, context.Background(), http.MethodGet, s.URL))
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, resp)
	}
	for _, resp := range resps {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := s.opened.Load(); n != 4 {
		t.Fatalf("%d connections, want 4", n)
	}
	for deadline := time.Now().Add(5 * time.Second); c.IdleConns() > 0 || s.closed.Load() < 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %d idle connections, %d closed", c.IdleConns(), s.closed.Load())
		}
	}
}

func benchServer(b *testing.B) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello, world\n")
	}))
	b.Cleanup(s.Close)
	return s
}

func benchGet(b *testing.B, rt http.RoundTripper, url string) {
	req := request(b, context.Background(), http.MethodGet, url)
	req.Header.Set("User-Agent", "bench")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func BenchmarkClientGet(b *testing.B) {
	s := benchServer(b)
	benchGet(b, newClient(b, strings.TrimPrefix(s.URL, "http://")), s.URL+"/")
}

func BenchmarkTransportGet(b *testing.B) {
	s := benchServer(b)
	tr := &http.Transport{DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	benchGet(b, tr, s.URL+"/")
}

// alive is a peeker's check of c, made afresh.
func alive(c net.Conn) bool {
	var p peeker
	p.init(c)
	return p.alive()
}

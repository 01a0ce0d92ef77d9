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
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// headRecorder is a net.Conn that keeps what net/http's Transport writes
// to it and answers nothing: its reads end (io.EOF) once a request head
// has been written (a request Carries accepts has no body, and none of
// its header fields can hold an empty line), so the Transport's RoundTrip
// returns after sending exactly what it would send to a member.
type headRecorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	wrote  chan struct{} // closed at the end of the head
	closed chan struct{}
	once   sync.Once
	onceC  sync.Once
	dialed atomic.Bool
}

func newHeadRecorder() *headRecorder {
	return &headRecorder{wrote: make(chan struct{}), closed: make(chan struct{})}
}

func (r *headRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(p)
	done := bytes.Contains(r.buf.Bytes(), []byte("\r\n\r\n"))
	r.mu.Unlock()
	if done {
		r.once.Do(func() { close(r.wrote) })
	}
	return len(p), nil
}

func (r *headRecorder) Read([]byte) (int, error) {
	select {
	case <-r.wrote:
		return 0, io.EOF
	case <-r.closed:
		return 0, net.ErrClosed
	case <-time.After(10 * time.Second):
		return 0, errors.New("headRecorder: no end of head written")
	}
}

func (r *headRecorder) Close() error {
	r.onceC.Do(func() { close(r.closed) })
	return nil
}
func (r *headRecorder) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (r *headRecorder) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
}
func (r *headRecorder) SetDeadline(time.Time) error      { return nil }
func (r *headRecorder) SetReadDeadline(time.Time) error  { return nil }
func (r *headRecorder) SetWriteDeadline(time.Time) error { return nil }

func (r *headRecorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// netHTTPHead is what net/http's Transport (as proxy/transport.go sets
// it up for members: no compression asked) sends for req, or the error it
// returns without sending anything. It is the real Transport rather than
// Request.Write, so the header checks Transport.roundTrip makes before
// Request.Write are net/http's own and not a copy of them.
func netHTTPHead(req *http.Request) ([]byte, error) {
	rec := newHeadRecorder()
	tr := &http.Transport{
		Proxy:              nil,
		DisableCompression: true,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			rec.dialed.Store(true)
			return rec, nil
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		return nil, errors.New("headRecorder: got an answer from nowhere")
	}
	select {
	case <-rec.wrote:
		return rec.bytes(), nil
	default:
	}
	if !rec.dialed.Load() {
		return nil, err // refused by Transport.roundTrip's checks
	}
	// Refused by Request.write, on the connection: Transport returns
	// its error or, as often, the one its read loop got when the
	// connection was closed for it. Request.Write gives the former.
	if werr := req.Write(io.Discard); werr != nil {
		return nil, werr
	}
	return nil, fmt.Errorf("Transport failed (%v) where Request.Write did not", err)
}

var fuzzMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions,
	http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodTrace, "",
}

// FuzzWriteLikeNetHTTP holds writeHead to net/http: for every request
// Carries accepts, writeHead refuses what net/http's Transport refuses,
// with the same error, and otherwise writes the very bytes the Transport
// writes.
func FuzzWriteLikeNetHTTP(f *testing.F) {
	type seed struct {
		methodSel                      uint8
		method, path, rawPath, query   string
		forceQuery                     bool
		host, urlHost                  string
		uaMode                         uint8
		ua                             string
		k1, v1, k2, v2, k3, v3, k4, v4 string
	}
	seeds := []seed{
		// A browser's GET, as the proxy forwards it.
		{0, "", "/shop/cart", "", "id=42&lang=fr", false, "www.example.com", "10.0.0.7:8080", 1,
			"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
			"Cookie", "JSESSIONID=6A1C0FB0D2A4E1A1.node1; theme=dark", "Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
			"X-Forwarded-For", "203.0.113.9, 198.51.100.2", "Accept-Language", "fr-FR,fr;q=0.9"},
		// A POST without a body: Content-Length: 0.
		{4, "", "/api/logout", "", "", false, "", "127.0.0.1:9000", 0, "", "X-Forwarded-Proto", "https", "Cookie", "a=b", "", "", "", ""},
		{5, "", "/v1/items/7", "", "", false, "api.example", "api.example", 3, "", "X-Request-Id", "3f1c", "Idempotency-Key", "k-1", "", "", "", ""},
		{6, "", "/p", "", "", true, "h:1", "h:1", 2, "", "Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43", "", "", "", "", "", ""},
		// Odd but valid tokens, non-canonical names, an empty value.
		{8, "M-SEARCH", "*", "", "", false, "[::1]:8080", "[::1]:8080", 1, "  curl/8.5.0\t", "x-lower", "v", "!#$%&'*+-.^_`|~09azAZ", "tok", "X-Empty", "", "host", "sneaky.example"},
		// obs-text values (bytes 0x80 and above), tabs, trailing blanks.
		{1, "", "/caf\u00e9/%E2%82%AC", "/caf%C3%A9/%E2%82%AC", "q=%FF", false, "example.com", "example.com", 1, "ua\u00ff",
			"X-Latin1", "caf\xe9 \xff", "X-Tab", "\ta\tb\t", "X-Space", "  spaced  ", "Content-Length", "12"},
		// CR and LF in values and names: refused by both.
		{0, "", "/", "", "", false, "example.com", "example.com", 1, "ua", "X-Split", "a\r\nInjected: 1", "", "", "", "", "", ""},
		{0, "", "/", "", "", false, "example.com", "example.com", 1, "bad\nua", "", "", "", "", "", "", "", ""},
		{0, "", "/", "", "", false, "example.com", "example.com", 0, "", "Bad Name", "v", "", "", "", "", "", ""},
		{0, "", "/", "", "", false, "example.com", "example.com", 0, "", "X-Nul", "a\x00b", "X-Del", "\x7f", "", "", "", ""},
		{9, "GE T", "/", "", "", false, "example.com", "example.com", 0, "", "", "", "", "", "", "", "", ""},
		{9, "GET", "/a b", "", "c d", false, "example.com", "example.com", 0, "", "Transfer-Encoding", "chunked", "Trailer", "X", "Host", "other", "User-Agent", "second"},
	}
	for _, s := range seeds {
		f.Add(s.methodSel, s.method, s.path, s.rawPath, s.query, s.forceQuery, s.host, s.urlHost, s.uaMode, s.ua,
			s.k1, s.v1, s.k2, s.v2, s.k3, s.v3, s.k4, s.v4)
	}
	f.Fuzz(func(t *testing.T, methodSel uint8, method, path, rawPath, query string, forceQuery bool, host, urlHost string,
		uaMode uint8, ua, k1, v1, k2, v2, k3, v3, k4, v4 string) {
		if int(methodSel) < len(fuzzMethods) {
			method = fuzzMethods[methodSel]
		}
		if urlHost == "" {
			urlHost = "127.0.0.1:8080" // the member's address: never empty
		}
		h := http.Header{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}, {k4, v4}} {
			if kv[0] != "" || kv[1] != "" {
				h[kv[0]] = append(h[kv[0]], kv[1])
			}
		}
		switch uaMode % 4 {
		case 0:
			delete(h, "User-Agent")
		case 1:
			h["User-Agent"] = []string{ua}
		case 2:
			h["User-Agent"] = []string{}
		case 3:
			h["User-Agent"] = []string{""}
		}
		u := &url.URL{Scheme: "http", Host: urlHost, Path: path, RawPath: rawPath, RawQuery: query, ForceQuery: forceQuery}
		req := &http.Request{Method: method, URL: u, Host: host, Header: h, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		if !Carries(req) {
			return
		}
		var got bytes.Buffer
		w := bufio.NewWriter(&got)
		err := writeHead(w, req)
		if err == nil {
			err = w.Flush()
		}
		want, werr := netHTTPHead(req.Clone(context.Background()))
		switch {
		case err != nil && werr != nil:
			// One error when there is one thing to refuse; with two
			// header fields to refuse, either may be named (both sides
			// range over a map).
			if err.Error() != werr.Error() && !(bothNameAField(err, werr) && len(h) > 1) {
				t.Fatalf("errors differ:\nwriteHead: %v\nnet/http:  %v", err, werr)
			}
		case err != nil:
			t.Fatalf("writeHead refused what net/http sends (%v):\n%q", err, want)
		case werr != nil:
			t.Fatalf("writeHead wrote what net/http refuses (%v):\n%q", werr, got.Bytes())
		case !bytes.Equal(got.Bytes(), want):
			t.Fatalf("heads differ:\nwriteHead: %q\nnet/http:  %q", got.Bytes(), want)
		}
	})
}

func bothNameAField(a, b error) bool {
	const p = "net/http: invalid header field "
	return strings.HasPrefix(a.Error(), p) && strings.HasPrefix(b.Error(), p)
}

// answerServer is a member on loopback that answers the first request of
// the current fuzz input with that input's bytes, and every later one
// with a small 200. With close set it closes the connection after the
// fuzz bytes.
type answerServer struct {
	ln  net.Listener
	cur atomic.Pointer[answerScript]
}

type answerScript struct {
	answer []byte
	close  bool
	reqs   atomic.Int32 // requests read
	conns  atomic.Int32 // connections accepted
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   []net.Conn
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func newAnswerServer(tb testing.TB) *answerServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &answerServer{ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			sc := s.cur.Load()
			if sc == nil {
				c.Close()
				continue
			}
			sc.conns.Add(1)
			sc.mu.Lock()
			sc.open = append(sc.open, c)
			sc.wg.Add(1)
			sc.mu.Unlock()
			go sc.serve(c)
		}
	}()
	tb.Cleanup(func() { ln.Close(); <-done })
	return s
}

func (s *answerScript) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second)) // no goroutine outlives a stuck test for long
	br := bufio.NewReader(c)
	for {
		if err := readHead(br); err != nil {
			return
		}
		if s.reqs.Add(1) > 1 {
			if _, err := io.WriteString(c, okAnswer); err != nil {
				return
			}
			continue
		}
		if _, err := c.Write(s.answer); err != nil || s.close {
			return
		}
	}
}

// end closes what is still open of the script's connections and waits for
// their goroutines.
func (s *answerScript) end() {
	s.mu.Lock()
	for _, c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// readHead reads a request head (the client's requests have no body).
func readHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

// modelAnswer is what the client must make of answer, read from memory:
// http.ReadResponse after at most five 1xx heads, a 101 refused; rest is
// how many bytes of answer the exchange leaves unread (body read to its end).
func modelAnswer(answer []byte, req *http.Request) (resp *http.Response, body []byte, bodyErr error, rest int, err error) {
	r := bytes.NewReader(answer)
	br := bufio.NewReaderSize(r, 4<<10)
	for informational := 0; ; informational++ {
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			return nil, nil, nil, 0, err
		}
		if resp.StatusCode >= 200 {
			break
		}
		if resp.StatusCode == http.StatusSwitchingProtocols || informational == maxInformational {
			return nil, nil, nil, 0, fmt.Errorf("unexpected %d", resp.StatusCode)
		}
	}
	body, bodyErr = io.ReadAll(resp.Body)
	return resp, body, bodyErr, r.Len() + br.Buffered(), nil
}

// FuzzClientAnswers sends a GET (or a HEAD) to a member that answers with
// arbitrary bytes: RoundTrip and the reading of the body never panic nor
// hang, and they give what http.ReadResponse makes of the same bytes. An
// answer that leaves the connection open (kept alive, of a known length)
// may be followed by a second request, which must get its own answer: on
// the same connection when the answer used every byte, on a new one when
// the member sent more (those bytes are no answer to it).
func FuzzClientAnswers(f *testing.F) {
	for _, s := range []string{
		okAnswer,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nSet-Cookie: a=b\r\nSet-Cookie: c=d\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 999 Odd\r\nX: \xff\r\nContent-Length: 0\r\n\r\n",
		// More than the length said, after a body long enough to be
		// read past the client's buffer: the rest stays in the socket.
		"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + strings.Repeat("a", 20000) + "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged",
		"HTTP/1.1 200 OK\r\n",
		"garbage\r\n\r\n",
		"",
	} {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, false)
		f.Add([]byte(s), false, true)
	}
	srv := newAnswerServer(f)
	dialer := &net.Dialer{}
	f.Fuzz(func(t *testing.T, answer []byte, head, keep bool) {
		if len(answer) > 64<<10 {
			return
		}
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, "http://"+srv.ln.Addr().String()+"/fuzz", nil)
		if err != nil {
			t.Fatal(err)
		}
		mresp, mbody, mbodyErr, rest, merr := modelAnswer(answer, req)
		// The member keeps the connection only after an answer that
		// leaves it fit for another: anything else would leave the
		// client waiting for the end of a body that has none.
		reusable := merr == nil && mbodyErr == nil && !mresp.Close
		sc := &answerScript{answer: answer, close: !(keep && reusable)}
		srv.cur.Store(sc)
		defer sc.end()
		c := &Client{
			Addr:                  srv.ln.Addr().String(),
			Dial:                  dialer.DialContext,
			Fallback:              failingFallback{t},
			MaxIdle:               2,
			ResponseHeaderTimeout: 4 * time.Second,
		}
		defer c.CloseIdleConnections()

		resp, err := c.RoundTrip(req)
		if ctx.Err() != nil {
			t.Fatalf("RoundTrip hung (%v) on %s", err, clip(answer))
		}
		if (err == nil) != (merr == nil) {
			t.Fatalf("on %s:\nclient:       %v\nReadResponse: %v", clip(answer), err, merr)
		}
		if err != nil {
			return
		}
		defer resp.Body.Close()
		body, bodyErr := readAll32(resp.Body)
		if ctx.Err() != nil {
			t.Fatalf("reading the body hung (%v) on %s", bodyErr, clip(answer))
		}
		if (bodyErr == nil) != (mbodyErr == nil) || !bytes.Equal(body, mbody) {
			t.Fatalf("bodies differ on %s:\nclient:       %s, %v\nReadResponse: %s, %v", clip(answer), clip(body), bodyErr, clip(mbody), mbodyErr)
		}
		sameResponse(t, resp, mresp)
		if sc.close {
			return
		}
		if n := c.IdleConns(); rest == 0 && n != 1 {
			t.Fatalf("a connection fit for another request was not kept (%d idle) after %s", n, clip(answer))
		}
		req2, _ := http.NewRequestWithContext(ctx, http.MethodGet, req.URL.String(), nil)
		resp2, err := c.RoundTrip(req2)
		if err != nil {
			t.Fatalf("second request after %s: %v", clip(answer), err)
		}
		b2, err := io.ReadAll(resp2.Body)
		resp2.Body.Close()
		want := int32(1)
		if rest > 0 {
			want = 2
		}
		if err != nil || string(b2) != "ok" || sc.conns.Load() != want {
			t.Fatalf("second request after %s: %q, %v, on %d connections", clip(answer), b2, err, sc.conns.Load())
		}
	})
}

// clip quotes b, cut to a readable length.
func clip(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q… (%d bytes)", b[:200], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// readAll32 reads r to its end 32 KiB at a time, as a proxy copies a
// body (io.Copy's buffer): long reads go past the connection's buffer.
func readAll32(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// sameResponse fails unless the client's answer is the model's (bodies
// read, so trailers are in).
func sameResponse(t testing.TB, got, want *http.Response) {
	t.Helper()
	type view struct {
		Status           string
		StatusCode       int
		Proto            string
		Major, Minor     int
		Header, Trailer  http.Header
		ContentLength    int64
		TransferEncoding []string
		Close            bool
	}
	v := func(r *http.Response) view {
		return view{r.Status, r.StatusCode, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Header, r.Trailer, r.ContentLength, r.TransferEncoding, r.Close}
	}
	if g, w := v(got), v(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("answers differ:\nclient:       %+v\nReadResponse: %+v", g, w)
	}
}

// failingFallback fails the test: requests that must be the client's own
// reached the fallback.
type failingFallback struct{ t testing.TB }

func (f failingFallback) RoundTrip(req *http.Request) (*http.Response, error) {
	f.t.Errorf("%s %s went to the fallback", req.Method, req.URL)
	return nil, errors.New("no fallback")
}

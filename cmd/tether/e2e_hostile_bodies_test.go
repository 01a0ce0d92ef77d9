package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// bodyTrigger is one request whose body is the sender's fault: malformed,
// shorter or longer than announced, a gRPC call the HTTP/1.1 members cannot
// take, or given up half-way. Issue 12: before the fix, each took a member
// out of rotation for everyone (a client error counted as the member's).
type bodyTrigger struct {
	name string
	// abort: the sender gives up itself, so it gets nothing; what matters is
	// that the member is untouched and the access log says 499 (or another 4xx).
	abort bool
	send  func(e *hostileEnv, path string) (outcome, error)
}

// badChunks are chunked bodies with a malformed chunk line or chunk data.
var badChunks = []struct{ name, body string }{
	{"chunk-size-zz", "zz\r\nabc\r\n0\r\n\r\n"},
	{"chunk-size-negative", "-3\r\nabc\r\n0\r\n\r\n"},
	{"chunk-size-0x", "0x3\r\nabc\r\n0\r\n\r\n"},
	{"chunk-size-leading-space", " 3\r\nabc\r\n0\r\n\r\n"},
	{"chunk-size-overflow", "1ffffffffffffffff\r\nabc\r\n0\r\n\r\n"},
	{"chunk-line-bare-lf", "3\nabc\r\n0\r\n\r\n"},
	{"chunk-data-without-crlf", "3\r\nabcX0\r\n\r\n"},
	{"chunk-extension-over-4k", "3;ext=" + strings.Repeat("x", 5000) + "\r\nabc\r\n0\r\n\r\n"},
}

func bodyTriggers() []bodyTrigger {
	var ts []bodyTrigger
	for _, bc := range badChunks {
		ts = append(ts, bodyTrigger{name: bc.name, send: func(e *hostileEnv, path string) (outcome, error) {
			raw := "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n" + bc.body
			return e.h1Exchange([]byte(raw), h1Opts{})
		}})
	}
	ts = append(ts,
		// Content-Length 100, 10 bytes sent, then the write side shut: a short
		// body from a client that still reads.
		bodyTrigger{name: "body-short-h1", send: func(e *hostileEnv, path string) (outcome, error) {
			raw := "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n0123456789"
			return e.h1Exchange([]byte(raw), h1Opts{halfClose: true})
		}},
		// Content-Length 1000, 100 bytes, then the connection closed once the
		// member is reading the body.
		bodyTrigger{name: "body-abort-h1", abort: true, send: func(e *hostileEnv, path string) (outcome, error) {
			c, err := e.dialH1(h1Opts{})
			if err != nil {
				return outcome{}, err
			}
			defer c.Close()
			if _, err := c.Write([]byte("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("a", 100))); err != nil {
				return outcome{}, err
			}
			e.waitMemberSees(path)
			return outcome{}, nil
		}},
		// HTTP/2: DATA longer than content-length.
		bodyTrigger{name: "h2-data-longer-than-content-length", send: func(e *hostileEnv, path string) (outcome, error) {
			return e.h2Once(func(h *h2Conn) error {
				return h.request(1, h.fields("POST", path, "content-length", "3"), []byte("abcdef"))
			})
		}},
		// HTTP/2: DATA shorter than content-length.
		bodyTrigger{name: "h2-data-shorter-than-content-length", send: func(e *hostileEnv, path string) (outcome, error) {
			return e.h2Once(func(h *h2Conn) error {
				return h.request(1, h.fields("POST", path, "content-length", "10"), []byte("abc"))
			})
		}},
		// HTTP/2: a content-length and no DATA at all (END_STREAM on HEADERS).
		bodyTrigger{name: "h2-content-length-without-data", send: func(e *hostileEnv, path string) (outcome, error) {
			return e.h2Once(func(h *h2Conn) error {
				return h.writeHeaders(1, true, h.block(h.fields("POST", path, "content-length", "10")))
			})
		}},
		// A unary gRPC call: HTTP/2 only, the members speak HTTP/1.1.
		bodyTrigger{name: "grpc-unary", send: func(e *hostileEnv, path string) (outcome, error) {
			return e.h2Once(func(h *h2Conn) error {
				return h.request(1, grpcFields(h, path), grpcMessage("hello"))
			})
		}},
		// A streaming gRPC call: the message is sent, the stream left open
		// (the member waits for the end of the body), and cancelled at the
		// client's deadline, as grpc-go does.
		bodyTrigger{name: "grpc-stream-cancelled", abort: true, send: func(e *hostileEnv, path string) (outcome, error) {
			h, err := e.dialH2(0)
			if err != nil {
				return outcome{}, err
			}
			defer h.close()
			if err := h.writeHeaders(1, false, h.block(grpcFields(h, path))); err != nil {
				return outcome{}, err
			}
			if err := h.data(1, grpcMessage("hello"), false); err != nil {
				return outcome{}, err
			}
			o := h.read(1, 3*time.Second)
			if o.status == 0 && !o.rst {
				_ = h.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			}
			return o, nil
		}},
		// HTTP/2: content-length 1000, 100 bytes of DATA, then RST_STREAM
		// (CANCEL) once the member is reading the body.
		bodyTrigger{name: "body-abort-h2", abort: true, send: func(e *hostileEnv, path string) (outcome, error) {
			h, err := e.dialH2(0)
			if err != nil {
				return outcome{}, err
			}
			defer h.close()
			if err := h.writeHeaders(1, false, h.block(h.fields("POST", path, "content-length", "1000"))); err != nil {
				return outcome{}, err
			}
			if err := h.data(1, []byte(strings.Repeat("a", 100)), false); err != nil {
				return outcome{}, err
			}
			e.waitMemberSees(path)
			err = h.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			// Let the reset reach Tether before the connection closes.
			h.read(1, 500*time.Millisecond)
			return outcome{}, err
		}},
	)
	return ts
}

func grpcFields(h *h2Conn, path string) []hpack.HeaderField {
	return h.fields("POST", path+"/hostile.Echo/Call", "content-type", "application/grpc", "te", "trailers",
		"grpc-timeout", "3S", "user-agent", "grpc-go/1.70.0")
}

// grpcMessage is one length-prefixed, uncompressed gRPC message.
func grpcMessage(s string) []byte {
	n := len(s)
	return append([]byte{0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, s...)
}

// h2Once sends one request on a new HTTP/2 connection and reads stream 1.
func (e *hostileEnv) h2Once(send func(*h2Conn) error) (outcome, error) {
	h, err := e.dialH2(0)
	if err != nil {
		return outcome{}, err
	}
	defer h.close()
	if err := send(h); err != nil {
		return outcome{}, err
	}
	return h.read(1, 15*time.Second), nil
}

// waitMemberSees waits (up to 10s) until some member has parsed a request
// for target, so that an abort lands while the member reads the body.
func (e *hostileEnv) waitMemberSees(target string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range e.members {
			for _, mr := range r.requests(0) {
				if strings.HasPrefix(mr.Target, target) {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// offenderAcceptable: what an offending client may get. It is refused as
// the one at fault (4xx, a reset stream, or a closed connection without an
// answer), or, when it gave up itself, nothing. Never a 2xx for a body that
// was not what it claimed, never a 5xx.
func offenderAcceptable(tr bodyTrigger, o outcome) bool {
	switch {
	case o.is4xx():
		return true
	case o.status != 0:
		return false
	case tr.abort:
		return true
	}
	return o.rst || o.closed
}

// TestHostileBodiesDoNotHurtOthers is issue 12's first acceptance line: any
// number of malformed request bodies (each trigger, over HTTP/1.1 and
// HTTP/2), gRPC calls and client aborts, sent while a second client makes
// 1,000 ordinary requests: the second client gets 1,000 × 200 (its sticky
// requests from their own member), every member stays up, and the
// offending clients get 4xx. Passive health is at its defaults (max_fails
// 1, recover_time 30s), under which two such bodies used to answer
// everybody 503 for 30 s.
func TestHostileBodiesDoNotHurtOthers(t *testing.T) {
	needBinaries(t)
	e := startHostileEnv(t, "")
	triggers := bodyTriggers()
	before := e.mustStats(t)

	var (
		goodDone atomic.Bool
		mu       sync.Mutex
		sent     = map[string]int{}
		wrong    []string
		seq      atomic.Int64
	)
	const offenders, minRounds = 3, 2
	var wg sync.WaitGroup
	for w := range offenders {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 12))
			for round := 0; round < minRounds || !goodDone.Load(); round++ {
				order := slices.Clone(triggers)
				rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				for _, tr := range order {
					path := fmt.Sprintf("/m/hostile/%s-%d", tr.name, seq.Add(1))
					o, err := tr.send(e, path)
					mu.Lock()
					sent[tr.name]++
					if err != nil {
						wrong = append(wrong, fmt.Sprintf("%s: %v", path, err))
					} else if !offenderAcceptable(tr, o) {
						wrong = append(wrong, fmt.Sprintf("%s: %v", path, o))
					}
					mu.Unlock()
				}
			}
		})
	}

	defer func() { // also when the test fails early: the offenders stop
		goodDone.Store(true)
		wg.Wait()
	}()

	// The well-behaved client: 1,000 GETs, half over HTTP/1.1 and half over
	// HTTP/2, every other one with a session cookie naming a member.
	names := e.memberNames()
	var ok, sticky int
	var failed []string
	allSent := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sent) == len(triggers)
	}
	for i := range 1000 {
		if i == 999 {
			// The last request waits until every trigger has been sent at
			// least once, so all of them overlap the 1,000 requests.
			testpeers.WaitUntil(t, 60*time.Second, "every trigger sent once", allSent)
		}
		c, base := e.good.h1, "http://"+e.h1
		if i%2 == 1 {
			c, base = e.good.h2, "https://"+e.h2
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/m/good?i="+strconv.Itoa(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := ""
		if i%4 >= 2 {
			want = names[(i/4)%len(names)]
			req.Header.Set("Cookie", "JSESSIONID=good"+strconv.Itoa(i)+"."+want)
		}
		resp, err := c.Do(req)
		if err != nil {
			failed = append(failed, fmt.Sprintf("request %d: %v", i, err))
			continue
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Member")
		switch {
		case resp.StatusCode != http.StatusOK:
			failed = append(failed, fmt.Sprintf("request %d: %d from %q", i, resp.StatusCode, got))
		case want != "" && got != want:
			failed = append(failed, fmt.Sprintf("request %d with a session on %s: answered by %q", i, want, got))
		default:
			ok++
			if want != "" {
				sticky++
			}
		}
	}
	goodDone.Store(true)
	wg.Wait()

	total := 0
	for _, n := range sent {
		total += n
	}
	t.Logf("the well-behaved client: %d of 1000 answered 200 (%d of them sticky, by their own member); the offenders sent %d hostile requests: %v", ok, sticky, total, sent)
	if ok != 1000 {
		t.Errorf("the well-behaved client got %d × 200 of 1000; failures (first 10 of %d): %s", ok, len(failed), strings.Join(failed[:min(10, len(failed))], "; "))
	}
	if len(wrong) > 0 {
		t.Errorf("%d offending requests got something other than a 4xx, a reset stream or a closed connection (first 10): %s", len(wrong), strings.Join(wrong[:min(10, len(wrong))], "; "))
	}
	if down := e.membersDown(t); len(down) > 0 {
		t.Errorf("members down after the offenders: %s", strings.Join(down, ", "))
	}
	if after := e.mustStats(t); after.failures != before.failures {
		t.Errorf("tether_member_failures_total went from %v to %v: the offenders' faults were charged to members", before.failures, after.failures)
	}
}

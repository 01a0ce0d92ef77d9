package ajp

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// decodeHeaders decodes a SEND_HEADERS payload (type byte included) into a
// response without Body and Request.
func decodeHeaders(p []byte) (*http.Response, error) {
	r := packetReader{b: p, off: 1}
	code := r.int()
	msg := r.string()
	n := r.int()
	if r.err != nil {
		return nil, r.err
	}
	if code < 100 || code > 999 {
		return nil, protoErr("status code %d", code)
	}
	if code == http.StatusSwitchingProtocols {
		return nil, protoErr("status 101: protocol upgrades are not possible over AJP")
	}
	h := make(http.Header, min(n, 32))
	for range n {
		var name string
		if v, ok := r.peekInt(); ok && v>>8 == headerCodeMark {
			r.int()
			i := v & 0xFF
			if i < 1 || i > len(responseHeaderNames) {
				return nil, protoErr("unknown response header code %#04x", v)
			}
			name = responseHeaderNames[i-1]
		} else {
			name = r.string()
		}
		value := r.string()
		if r.err != nil {
			return nil, r.err
		}
		// Tomcat replaces control characters with spaces before sending; a
		// backend that does not is not allowed to smuggle header lines.
		if !validHeaderName(name) || strings.ContainsAny(value, "\r\n\x00") {
			return nil, protoErr("invalid response header %q", name)
		}
		h.Add(name, value)
	}
	cl := int64(-1)
	if vs := h.Values("Content-Length"); len(vs) > 0 {
		v, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
		if err != nil || v < 0 {
			return nil, protoErr("invalid Content-Length %q", vs[0])
		}
		for _, o := range vs[1:] {
			if strings.TrimSpace(o) != strings.TrimSpace(vs[0]) {
				return nil, protoErr("conflicting Content-Length values %q and %q", vs[0], o)
			}
		}
		h["Content-Length"] = []string{strconv.FormatInt(v, 10)}
		cl = v
	}
	text := statusText(code, msg)
	status := strconv.Itoa(code)
	if text != "" {
		status += " " + text
	}
	return &http.Response{
		Status:        status,
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: cl,
	}, nil
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 §5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Response body states.
const (
	bodyReading int32 = iota // the connection is in use by this body
	bodyDone                 // END_RESPONSE read; the connection was put back or closed
	bodyClosed               // closed early or failed; the connection was closed
)

// responseBody streams SEND_BODY_CHUNK data as it arrives, answers
// GET_BODY_CHUNK (Tomcat may read the request body after sending headers),
// and settles the connection at END_RESPONSE.
//
// Read is meant for one goroutine at a time; Close may be called from any
// goroutine, also during a Read, which it interrupts by closing the socket.
type responseBody struct {
	t      *Transport
	c      *conn
	req    *http.Request
	body   *requestBody
	stop   func() bool  // stops the context watcher; false if it fired
	ctxErr func() error // the request context's Err

	mu    sync.Mutex // serializes Read
	data  []byte     // unread data of the current chunk; aliases c.rbuf
	err   error      // sticky: io.EOF after END_RESPONSE, or the failure
	state atomic.Int32
	// noReuse: END_RESPONSE said the connection is not to be reused.
	noReuse bool
}

func (b *responseBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.data) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.state.Load() == bodyClosed {
			return 0, b.failLocked(fmt.Errorf("ajp: read on closed response body"))
		}
		pkt, err := b.c.readPacket(b.t.cfg.ReplyTimeout)
		if err != nil {
			return 0, b.failLocked(b.t.readError("read response body", b.c.pool.addr, err))
		}
		switch pkt[0] {
		case typeSendBodyChunk:
			r := packetReader{b: pkt, off: 1}
			n := r.int()
			if r.err != nil || 3+n > len(pkt) {
				return 0, b.failLocked(protoErr("body chunk of %d bytes in a %d-byte packet", n, len(pkt)))
			}
			b.data = pkt[3 : 3+n] // n == 0 is a flush: nothing to deliver
		case typeGetBodyChunk:
			if err := b.t.answerGetBodyChunk(b.c, b.body, pkt); err != nil {
				return 0, b.failLocked(err)
			}
		case typeEndResponse:
			reuse := len(pkt) >= 2 && pkt[1] == 1
			b.err = io.EOF
			b.noReuse = !reuse
			b.finish(reuse)
		default:
			return 0, b.failLocked(unexpected(pkt[0], "in response body"))
		}
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

// failLocked records err (or the context's error, if that caused it),
// closes the connection, and returns the recorded error.
func (b *responseBody) failLocked(err error) error {
	if ctxErr := b.ctxErr(); ctxErr != nil {
		err = fmt.Errorf("ajp: read response body from %s: %w", b.c.pool.addr, ctxErr)
	}
	b.err = err
	b.data = nil
	if b.state.CompareAndSwap(bodyReading, bodyClosed) {
		b.stop()
		b.c.close()
		b.body.close()
	}
	return err
}

// finish settles the connection after END_RESPONSE: back to the pool when
// Tomcat allows reuse and the context watcher did not touch its deadlines.
func (b *responseBody) finish(reuse bool) {
	if !b.state.CompareAndSwap(bodyReading, bodyDone) {
		return
	}
	if b.stop() && reuse && b.ctxErr() == nil {
		b.c.pool.put(b.c)
	} else {
		b.c.close()
	}
	b.body.close()
}

// Close ends the response. Before END_RESPONSE it closes the connection: the
// rest of the response is not drained.
func (b *responseBody) Close() error {
	if b.state.CompareAndSwap(bodyReading, bodyClosed) {
		b.stop()
		b.c.close() // interrupts a concurrent Read
		b.body.close()
	}
	return nil
}

package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// What a hostile sender got back, over HTTP/1.x (raw bytes on TCP or TLS)
// or HTTP/2 (frames).

// outcome is what the sender of one request got.
type outcome struct {
	status  int // the first final response's status; 0 for none
	header  http.Header
	body    []byte
	more    []int // HTTP/1.x: statuses of further responses on the connection
	closed  bool  // the connection was closed (EOF or reset), not left open
	rst     bool  // HTTP/2: the stream was reset
	rstCode http2.ErrCode
	goaway  bool
	end     error // how reading ended
}

func (o outcome) String() string {
	var b strings.Builder
	if o.status != 0 {
		fmt.Fprintf(&b, "status %d", o.status)
		if m := o.header.Get("X-Member"); m != "" {
			fmt.Fprintf(&b, " from %s", m)
		}
		fmt.Fprintf(&b, " (%d body bytes)", len(o.body))
	} else {
		b.WriteString("no response")
	}
	if len(o.more) > 0 {
		fmt.Fprintf(&b, ", then %d more responses %v", len(o.more), o.more)
	}
	if o.rst {
		fmt.Fprintf(&b, ", RST_STREAM %v", o.rstCode)
	}
	if o.goaway {
		b.WriteString(", GOAWAY")
	}
	switch {
	case o.closed:
		b.WriteString(", connection closed")
	case o.end != nil:
		fmt.Fprintf(&b, ", reading ended: %v", o.end)
	}
	return b.String()
}

// is4xx: the sender was refused as the one at fault.
func (o outcome) is4xx() bool { return o.status >= 400 && o.status < 500 }

// isClosed reports whether err means the peer closed the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// h1Opts shape a raw HTTP/1.x exchange.
type h1Opts struct {
	tls       bool          // to the https listener
	addr      string        // another address (the admin API)
	maxResps  int           // stop after this many responses; 0: read until the connection closes
	wait      time.Duration // bound on the exchange (15s)
	halfClose bool          // shut the write side once the bytes are sent
	closeAt   int           // close the connection after writing this many bytes (a client abort)
}

// dialH1 connects to the http (or https) listener.
func (e *hostileEnv) dialH1(o h1Opts) (net.Conn, error) {
	addr := e.h1
	switch {
	case o.addr != "":
		addr = o.addr
	case o.tls:
		addr = e.h2
	}
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil || !o.tls {
		return c, err
	}
	tc := tls.Client(c, &tls.Config{RootCAs: e.roots, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	_ = tc.SetDeadline(time.Now().Add(15 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, nil
}

// h1Exchange sends raw on a new connection and reads the responses: all of
// them until the connection closes (or o.wait passes), or o.maxResps.
// Writing runs beside reading, so an early answer to a long request is
// read while the rest is still being sent.
func (e *hostileEnv) h1Exchange(raw []byte, o h1Opts) (outcome, error) {
	c, err := e.dialH1(o)
	if err != nil {
		return outcome{}, err
	}
	defer c.Close()
	if o.wait == 0 {
		o.wait = 15 * time.Second
	}
	_ = c.SetDeadline(time.Now().Add(o.wait))
	go func() {
		data := raw
		if o.closeAt > 0 {
			data = raw[:o.closeAt]
		}
		for len(data) > 0 {
			n, err := c.Write(data[:min(len(data), 16<<10)])
			if err != nil {
				return
			}
			data = data[n:]
		}
		switch {
		case o.closeAt > 0:
			c.Close()
		case o.halfClose:
			closeWrite(c)
		}
	}()
	return readH1(c, o.maxResps), nil
}

func closeWrite(c net.Conn) {
	switch c := c.(type) {
	case *net.TCPConn:
		_ = c.CloseWrite()
	case *tls.Conn:
		_ = c.CloseWrite()
	}
}

// readH1 reads responses off c until it closes, or max of them.
func readH1(c net.Conn, max int) outcome {
	var o outcome
	br := bufio.NewReader(c)
	n := 0
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			o.end, o.closed = err, isClosed(err)
			return o
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			if n == 0 {
				o.status, o.header, o.body = resp.StatusCode, resp.Header, body
			} else {
				o.more = append(o.more, resp.StatusCode)
			}
			n++
		}
		if err != nil {
			o.end, o.closed = err, isClosed(err)
			return o
		}
		if resp.StatusCode == http.StatusSwitchingProtocols || max > 0 && n >= max {
			return o
		}
	}
}

// h2Conn is a hand-driven HTTP/2 client connection to the https listener.
type h2Conn struct {
	e   *hostileEnv
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

// dialH2 connects with ALPN h2 and sends the preface and an empty SETTINGS.
// rcvbuf, when set, shrinks the socket's receive buffer (a client that
// reads nothing fills it quickly).
func (e *hostileEnv) dialH2(rcvbuf int, settings ...http2.Setting) (*h2Conn, error) {
	tc, err := net.DialTimeout("tcp", e.h2, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if rcvbuf > 0 {
		_ = tc.(*net.TCPConn).SetReadBuffer(rcvbuf)
	}
	c := tls.Client(tc, &tls.Config{RootCAs: e.roots, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if err := c.Handshake(); err != nil {
		tc.Close()
		return nil, err
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		c.Close()
		return nil, fmt.Errorf("ALPN chose %q, not h2", p)
	}
	_ = c.SetDeadline(time.Time{})
	h := &h2Conn{e: e, c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	h.enc = hpack.NewEncoder(&h.buf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		c.Close()
		return nil, err
	}
	if err := h.fr.WriteSettings(settings...); err != nil {
		c.Close()
		return nil, err
	}
	return h, nil
}

func (h *h2Conn) close() { h.c.Close() }

// fields are a request's header fields: the pseudo-headers for method and
// path, then name/value pairs.
func (h *h2Conn) fields(method, path string, kv ...string) []hpack.HeaderField {
	f := []hpack.HeaderField{
		{Name: ":method", Value: method},
		{Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: h.e.h2},
		{Name: ":path", Value: path},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return f
}

// block encodes header fields.
func (h *h2Conn) block(fields []hpack.HeaderField) []byte {
	h.buf.Reset()
	for _, f := range fields {
		_ = h.enc.WriteField(f)
	}
	return bytes.Clone(h.buf.Bytes())
}

// writeHeaders sends a header block as HEADERS and as many CONTINUATION
// frames as the default 16 KiB frame size needs.
func (h *h2Conn) writeHeaders(id uint32, endStream bool, block []byte) error {
	const max = 16 << 10
	first := block[:min(len(block), max)]
	rest := block[len(first):]
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: endStream, EndHeaders: len(rest) == 0}); err != nil {
		return err
	}
	for len(rest) > 0 {
		n := min(len(rest), max)
		if err := h.fr.WriteContinuation(id, n == len(rest), rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return nil
}

// request sends a whole request: headers, then body (if any) in DATA frames.
func (h *h2Conn) request(id uint32, fields []hpack.HeaderField, body []byte) error {
	if err := h.writeHeaders(id, body == nil, h.block(fields)); err != nil {
		return err
	}
	return h.data(id, body, true)
}

// data sends body in DATA frames of at most 16 KiB.
func (h *h2Conn) data(id uint32, body []byte, end bool) error {
	if body == nil {
		return nil
	}
	for {
		n := min(len(body), 16<<10)
		last := n == len(body)
		if err := h.fr.WriteData(id, end && last, body[:n]); err != nil {
			return err
		}
		body = body[n:]
		if last {
			return nil
		}
	}
}

// read reads frames until stream id ends (response done, reset, or the
// connection closed) or wait passes. It answers SETTINGS and PING and
// returns flow-control credit for what it reads.
func (h *h2Conn) read(id uint32, wait time.Duration) outcome {
	var o outcome
	_ = h.c.SetReadDeadline(time.Now().Add(wait))
	defer func() { _ = h.c.SetReadDeadline(time.Time{}) }()
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			o.end, o.closed = err, isClosed(err)
			return o
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = h.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = h.fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			o.goaway = true
			if f.LastStreamID < id {
				return o
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			if s, err := strconv.Atoi(f.PseudoValue("status")); err == nil && o.status == 0 && s >= 200 {
				o.status = s
				o.header = http.Header{}
				for _, hf := range f.RegularFields() {
					o.header.Add(hf.Name, hf.Value)
				}
			}
			if f.StreamEnded() {
				return o
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			o.body = append(o.body, f.Data()...)
			if n := uint32(len(f.Data())); n > 0 {
				_ = h.fr.WriteWindowUpdate(0, n)
				_ = h.fr.WriteWindowUpdate(id, n)
			}
			if f.StreamEnded() {
				return o
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				o.rst, o.rstCode = true, f.ErrCode
				return o
			}
		}
	}
}

// sendFlow sends body on stream id as HTTP/2 flow control allows (the
// RFC's 65,535-byte windows, raised by the server's SETTINGS and
// WINDOW_UPDATE frames), reading frames while it waits for credit. If the
// stream gets its answer (or is reset) before the body is all sent, it
// stops there and returns that outcome with done set.
func (h *h2Conn) sendFlow(id uint32, body []byte, end bool, wait time.Duration) (o outcome, done bool) {
	connWin, streamWin, initial := int64(65535), int64(65535), int64(65535)
	deadline := time.Now().Add(wait)
	defer func() { _ = h.c.SetReadDeadline(time.Time{}) }()
	for len(body) > 0 {
		if n := min(int64(len(body)), 16<<10, connWin, streamWin); n > 0 {
			if err := h.fr.WriteData(id, end && n == int64(len(body)), body[:n]); err != nil {
				o.end, o.closed = err, isClosed(err)
				return o, true
			}
			connWin, streamWin, body = connWin-n, streamWin-n, body[n:]
			continue
		}
		_ = h.c.SetReadDeadline(deadline)
		f, err := h.fr.ReadFrame()
		if err != nil {
			o.end, o.closed = err, isClosed(err)
			return o, true
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
					streamWin += int64(v) - initial
					initial = int64(v)
				}
				_ = h.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = h.fr.WritePing(true, f.Data)
			}
		case *http2.WindowUpdateFrame:
			switch f.StreamID {
			case 0:
				connWin += int64(f.Increment)
			case id:
				streamWin += int64(f.Increment)
			}
		case *http2.GoAwayFrame:
			o.goaway = true
			if f.LastStreamID < id {
				return o, true
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				o.status, _ = strconv.Atoi(f.PseudoValue("status"))
				o.header = http.Header{}
				for _, hf := range f.RegularFields() {
					o.header.Add(hf.Name, hf.Value)
				}
				return o, true
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				o.rst, o.rstCode = true, f.ErrCode
				return o, true
			}
		}
	}
	return o, false
}

// drain reads and discards frames until the connection closes or wait
// passes, reporting whether the server closed it and sent GOAWAY. It writes
// nothing, so it can run beside a writer.
func (h *h2Conn) drain(wait time.Duration) (closed, goaway bool) {
	_ = h.c.SetReadDeadline(time.Now().Add(wait))
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return isClosed(err), goaway
		}
		if _, ok := f.(*http2.GoAwayFrame); ok {
			goaway = true
		}
	}
}

package ajp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// This file holds a hand-written fake AJP container for the unit tests: it
// decodes what the Transport sends (independently of the encoder) and writes
// container packets byte by byte.

// fwdRequest is a decoded FORWARD_REQUEST.
type fwdRequest struct {
	Method                 string // resolved: coded name or the stored method
	MethodByte             byte
	Proto, URI             string
	RemoteAddr, RemoteHost string
	ServerName             string
	ServerPort             int
	SSL                    bool
	Headers                [][2]string // names of coded headers in lower case
	Attrs                  map[byte]string
	ReqAttrs               map[string]string
	KeySize                int
}

func (f *fwdRequest) header(name string) (string, int) {
	v, n := "", 0
	for _, h := range f.Headers {
		if h[0] == name {
			v = h[1]
			n++
		}
	}
	return v, n
}

var codeToMethod = func() map[byte]string {
	m := map[byte]string{}
	for k, v := range methodCodes {
		m[v] = k
	}
	return m
}()

var codeToReqHeader = func() map[int]string {
	m := map[int]string{}
	for k, v := range requestHeaderCodes {
		m[int(v)] = k
	}
	return m
}()

// parseForward decodes a FORWARD_REQUEST payload (type byte included).
func parseForward(p []byte) (*fwdRequest, error) {
	off := 0
	fail := func(what string) error { return fmt.Errorf("forward request: %s at %d of %d", what, off, len(p)) }
	u8 := func() (byte, error) {
		if off >= len(p) {
			return 0, fail("byte")
		}
		off++
		return p[off-1], nil
	}
	u16 := func() (int, error) {
		if off+2 > len(p) {
			return 0, fail("int")
		}
		off += 2
		return int(binary.BigEndian.Uint16(p[off-2:])), nil
	}
	str := func() (string, error) {
		n, err := u16()
		if err != nil {
			return "", err
		}
		if n == 0xFFFF {
			return "", nil
		}
		if off+n+1 > len(p) || p[off+n] != 0 {
			return "", fail("string")
		}
		off += n + 1
		return string(p[off-n-1 : off-1]), nil
	}
	var err error
	must := func(e error) {
		if err == nil {
			err = e
		}
	}
	f := &fwdRequest{Attrs: map[byte]string{}, ReqAttrs: map[string]string{}}
	typ, e := u8()
	must(e)
	if typ != typeForwardRequest {
		return nil, fmt.Errorf("type %d, want FORWARD_REQUEST", typ)
	}
	f.MethodByte, e = u8()
	must(e)
	f.Proto, e = str()
	must(e)
	f.URI, e = str()
	must(e)
	f.RemoteAddr, e = str()
	must(e)
	f.RemoteHost, e = str()
	must(e)
	f.ServerName, e = str()
	must(e)
	f.ServerPort, e = u16()
	must(e)
	ssl, e := u8()
	must(e)
	f.SSL = ssl == 1
	n, e := u16()
	must(e)
	if err != nil {
		return nil, err
	}
	for range n {
		var name string
		if off+2 <= len(p) && p[off] == 0xA0 {
			c, _ := u16()
			name = codeToReqHeader[c]
			if name == "" {
				return nil, fmt.Errorf("unknown header code %#x", c)
			}
		} else if name, err = str(); err != nil {
			return nil, err
		}
		v, err := str()
		if err != nil {
			return nil, err
		}
		f.Headers = append(f.Headers, [2]string{name, v})
	}
	for {
		a, err := u8()
		if err != nil {
			return nil, err
		}
		switch a {
		case attrAreDone:
			if off != len(p) {
				return nil, fail("trailing bytes")
			}
			f.Method = codeToMethod[f.MethodByte]
			if f.MethodByte == methodStored {
				f.Method = f.Attrs[attrStoredMethod]
			}
			return f, nil
		case attrSSLKeySize:
			if f.KeySize, err = u16(); err != nil {
				return nil, err
			}
		case attrReqAttribute:
			k, err := str()
			if err != nil {
				return nil, err
			}
			v, err := str()
			if err != nil {
				return nil, err
			}
			f.ReqAttrs[k] = v
		case 0x01, 0x02, 0x03, 0x04, attrQueryString, 0x06, attrSSLCert, attrSSLCipher, attrSSLSession, attrSecret, attrStoredMethod:
			v, err := str()
			if err != nil {
				return nil, err
			}
			f.Attrs[a] = v
		default:
			return nil, fmt.Errorf("unknown attribute %#x", a)
		}
	}
}

// fakeConn is the container's end of one connection.
type fakeConn struct {
	net.Conn
	br *bufio.Reader
}

func newFakeConn(c net.Conn) *fakeConn { return &fakeConn{Conn: c, br: bufio.NewReader(c)} }

// readPacket reads one proxy → container packet and returns its payload.
func (c *fakeConn) readPacket() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return nil, err
	}
	if h[0] != 0x12 || h[1] != 0x34 {
		return nil, fmt.Errorf("bad magic % x", h[:2])
	}
	p := make([]byte, binary.BigEndian.Uint16(h[2:]))
	_, err := io.ReadFull(c.br, p)
	return p, err
}

func (c *fakeConn) readForward() (*fwdRequest, error) {
	p, err := c.readPacket()
	if err != nil {
		return nil, err
	}
	return parseForward(p)
}

// readBody reads one body packet; an empty packet returns (nil, nil).
func (c *fakeConn) readBody() ([]byte, error) {
	p, err := c.readPacket()
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, nil
	}
	if len(p) < 2 || int(binary.BigEndian.Uint16(p))+2 != len(p) {
		return nil, fmt.Errorf("body packet: data length does not match packet length %d", len(p))
	}
	return p[2:], nil
}

// pullBody asks for the body with GET_BODY_CHUNK until the empty packet and
// returns it all, starting with first (the unsolicited chunk, if any).
func (c *fakeConn) pullBody(first []byte) ([]byte, int, error) {
	body := append([]byte(nil), first...)
	asks := 0
	for {
		if err := c.send(getBodyChunk(8186)); err != nil {
			return nil, asks, err
		}
		asks++
		b, err := c.readBody()
		if err != nil {
			return nil, asks, err
		}
		if b == nil {
			return body, asks, nil
		}
		body = append(body, b...)
	}
}

func (c *fakeConn) send(pkts ...[]byte) error {
	for _, p := range pkts {
		if _, err := c.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// Container packets.

func containerPacket(payload []byte) []byte {
	return append([]byte{'A', 'B', byte(len(payload) >> 8), byte(len(payload))}, payload...)
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(append(b, s...), 0)
}

// sendHeaders builds SEND_HEADERS; a header name of the form "#N" is sent as code 0xA00N.
func sendHeaders(status int, msg string, kv ...string) []byte {
	p := []byte{typeSendHeaders}
	p = binary.BigEndian.AppendUint16(p, uint16(status))
	p = appendStr(p, msg)
	p = binary.BigEndian.AppendUint16(p, uint16(len(kv)/2))
	for i := 0; i+1 < len(kv); i += 2 {
		var code int
		if _, err := fmt.Sscanf(kv[i], "#%x", &code); err == nil {
			p = binary.BigEndian.AppendUint16(p, uint16(0xA000|code))
		} else {
			p = appendStr(p, kv[i])
		}
		p = appendStr(p, kv[i+1])
	}
	return containerPacket(p)
}

func bodyChunk(data string) []byte {
	p := []byte{typeSendBodyChunk}
	p = appendStr(p, data)
	return containerPacket(p)
}

func endResponse(reuse bool) []byte {
	if reuse {
		return containerPacket([]byte{typeEndResponse, 1})
	}
	return containerPacket([]byte{typeEndResponse, 0})
}

func getBodyChunk(n int) []byte {
	return containerPacket([]byte{typeGetBodyChunk, byte(n >> 8), byte(n)})
}

var cpong = containerPacket([]byte{typeCPong})

// fakeServer accepts connections on 127.0.0.1 and runs handle on each, in
// its own goroutine. handle returns when it is done with the connection,
// which is then closed.
type fakeServer struct {
	ln       net.Listener
	accepted atomic.Int32
	wg       sync.WaitGroup
	errs     chan error
}

func startFake(t *testing.T, handle func(c *fakeConn) error) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, errs: make(chan error, 100)}
	s.wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.wg.Go(func() {
				defer nc.Close()
				if err := handle(newFakeConn(nc)); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					s.errs <- err
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
		close(s.errs)
		for err := range s.errs {
			t.Errorf("fake server: %v", err)
		}
	})
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

// serveRequests answers each request on a connection with respond until the
// connection ends.
func serveRequests(respond func(c *fakeConn, f *fwdRequest) error) func(*fakeConn) error {
	return func(c *fakeConn) error {
		for {
			f, err := c.readForward()
			if err != nil {
				return err
			}
			if err := respond(c, f); err != nil {
				return err
			}
		}
	}
}

// pipeDialer hands out net.Pipe connections whose other end goes to serve,
// run in a goroutine per connection. For synctest bubbles (virtual time).
type pipeDialer struct {
	serve  func(*fakeConn)
	dialed atomic.Int32
	wg     sync.WaitGroup
}

func (d *pipeDialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	a, b := net.Pipe()
	d.dialed.Add(1)
	d.wg.Go(func() {
		defer b.Close()
		d.serve(newFakeConn(b))
	})
	return a, nil
}

package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// DefaultHeaderTimeout bounds how long a connection may take to send its
// header when the Listener sets none.
const DefaultHeaderTimeout = 5 * time.Second

const (
	// v1Max is the longest v1 header, CRLF included (the spec's 107).
	v1Max = 107
	// v2Max bounds a v2 header: 16 fixed bytes, addresses and TLVs.
	// AWS sends one TLV (the VPC endpoint id); 2 KiB leaves room for more.
	v2Max = 2048
)

var v2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Errors of the PROXY layer; a connection that gets one is closed.
var (
	ErrHeader  = errors.New("bad PROXY protocol header")
	ErrRefused = errors.New("PROXY protocol header from a peer outside the allowed ranges")
	ErrMissing = errors.New("no PROXY protocol header from an allowed peer")
)

// header is a parsed header. Local is true for v2 LOCAL and v1
// UNKNOWN: the connection carries no client address.
type header struct {
	Version  int
	Local    bool
	Src, Dst netip.AddrPort
}

// readHeader reads one header from r, consuming exactly its bytes. It
// never reads more than v2Max bytes.
func readHeader(r *bufio.Reader) (header, error) {
	b, err := r.Peek(1)
	if err != nil {
		return header{}, err
	}
	switch b[0] {
	case 'P':
		return readV1(r)
	case '\r':
		return readV2(r)
	}
	return header{}, fmt.Errorf("%w: no signature", ErrHeader)
}

func readV1(r *bufio.Reader) (header, error) {
	line := make([]byte, 0, v1Max)
	for {
		c, err := r.ReadByte()
		if err != nil {
			return header{}, err
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
		if len(line) >= v1Max {
			return header{}, fmt.Errorf("%w: v1 line longer than %d bytes", ErrHeader, v1Max)
		}
	}
	rest, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok {
		return header{}, fmt.Errorf("%w: v1 line does not end in CRLF", ErrHeader)
	}
	f := bytes.Split(rest, []byte(" "))
	if string(f[0]) != "PROXY" || len(f) < 2 {
		return header{}, fmt.Errorf("%w: v1 line does not start with PROXY", ErrHeader)
	}
	h := header{Version: 1}
	switch string(f[1]) {
	case "UNKNOWN":
		h.Local = true // the receiver must ignore what follows
		return h, nil
	case "TCP4", "TCP6":
	default:
		return header{}, fmt.Errorf("%w: v1 protocol %q", ErrHeader, f[1])
	}
	if len(f) != 6 {
		return header{}, fmt.Errorf("%w: v1 wants 6 fields, got %d", ErrHeader, len(f))
	}
	v6 := string(f[1]) == "TCP6"
	src, err1 := parseV1Addr(f[2], f[4], v6)
	dst, err2 := parseV1Addr(f[3], f[5], v6)
	if err := errors.Join(err1, err2); err != nil {
		return header{}, err
	}
	h.Src, h.Dst = src, dst
	return h, nil
}

func parseV1Addr(ip, port []byte, v6 bool) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(string(ip))
	if err != nil || a.Is6() != v6 || a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%w: v1 address %q", ErrHeader, ip)
	}
	if len(port) == 0 || len(port) > 5 || len(port) > 1 && port[0] == '0' {
		return netip.AddrPort{}, fmt.Errorf("%w: v1 port %q", ErrHeader, port)
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return netip.AddrPort{}, fmt.Errorf("%w: v1 port %q", ErrHeader, port)
		}
	}
	p, err := strconv.Atoi(string(port))
	if err != nil || p > 65535 {
		return netip.AddrPort{}, fmt.Errorf("%w: v1 port %q", ErrHeader, port)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

func readV2(r *bufio.Reader) (header, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return header{}, err
	}
	if !bytes.Equal(fixed[:12], v2Sig) {
		return header{}, fmt.Errorf("%w: v2 signature", ErrHeader)
	}
	if fixed[12]>>4 != 2 {
		return header{}, fmt.Errorf("%w: v2 version %d", ErrHeader, fixed[12]>>4)
	}
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if 16+n > v2Max {
		return header{}, fmt.Errorf("%w: v2 header of %d bytes", ErrHeader, 16+n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return header{}, err
	}
	h := header{Version: 2}
	switch fixed[12] & 0x0f {
	case 0: // LOCAL: health checks and the proxy's own traffic
		h.Local = true
		return h, nil
	case 1: // PROXY
	default:
		return header{}, fmt.Errorf("%w: v2 command %d", ErrHeader, fixed[12]&0x0f)
	}
	switch fixed[13] {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return header{}, fmt.Errorf("%w: v2 IPv4 addresses need 12 bytes, got %d", ErrHeader, n)
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case 0x21: // TCP over IPv6
		if n < 36 {
			return header{}, fmt.Errorf("%w: v2 IPv6 addresses need 36 bytes, got %d", ErrHeader, n)
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
	case 0x00: // UNSPEC: no address to believe
		h.Local = true
	default: // UDP or unix sockets: not for an HTTP listener
		return header{}, fmt.Errorf("%w: v2 family/protocol 0x%02x", ErrHeader, fixed[13])
	}
	return h, nil
}

// Listener wraps the connections it accepts so that their RemoteAddr is
// the client's address from the PROXY header.
type Listener struct {
	net.Listener
	// Allowed reports whether a peer ("ip:port") is a proxy that must
	// send a header.
	Allowed func(peer string) bool
	// HeaderTimeout bounds the wait for the header (DefaultHeaderTimeout
	// when zero).
	HeaderTimeout time.Duration
	Log           zerolog.Logger
}

// Accept returns the next connection; its header is read on first use.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &proxyConn{Conn: c, l: l, br: bufio.NewReaderSize(c, 512)}, nil
}

// proxyConn reads the PROXY header on first use (RemoteAddr, which
// net/http calls first in the connection's own goroutine, or Read) and
// then reports the client's address as its RemoteAddr.
type proxyConn struct {
	net.Conn
	l  *Listener
	br *bufio.Reader

	once   sync.Once
	remote net.Addr
	err    error
}

func (c *proxyConn) init() {
	c.once.Do(func() {
		peer := c.Conn.RemoteAddr()
		c.remote = peer
		timeout := c.l.HeaderTimeout
		if timeout <= 0 {
			timeout = DefaultHeaderTimeout
		}
		c.Conn.SetReadDeadline(time.Now().Add(timeout))
		defer c.Conn.SetReadDeadline(time.Time{})
		log := c.l.Log.With().Str("peer", peer.String()).Logger()
		if !c.l.Allowed(peer.String()) {
			// Not an allowed proxy: refuse a header, serve anything else.
			if b, _ := c.br.Peek(len(v2Sig)); bytes.HasPrefix(b, []byte("PROXY ")) || bytes.Equal(b, v2Sig) {
				c.err = ErrRefused
				log.Warn().Msg("proxy protocol header refused: peer not allowed")
			}
			return
		}
		h, err := readHeader(c.br)
		if err != nil {
			if errors.Is(err, ErrHeader) {
				c.err = err
			} else {
				c.err = fmt.Errorf("%w: %w", ErrMissing, err)
			}
			log.Debug().Err(err).Msg("proxy protocol header rejected")
			return
		}
		if !h.Local {
			c.remote = net.TCPAddrFromAddrPort(h.Src)
		}
	})
}

func (c *proxyConn) RemoteAddr() net.Addr {
	c.init()
	return c.remote
}

func (c *proxyConn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		c.Conn.Close()
		return 0, c.err
	}
	return c.br.Read(p)
}

package proxy

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

// PROXY protocol (HAProxy's spec, versions 1 and 2), as an AWS NLB sends it
// in front of a TCP listener: the header comes first on the connection and
// names the client's address.
//
// The policy: a peer inside the allowed ranges must send a header (a v2
// LOCAL header, as NLB health checks send, keeps the peer's own address);
// from any other peer a header is refused and the connection closed, and a
// connection without one is served as a direct client. The header is read
// on the connection's first use, within proxyHeaderTimeout, never in the
// accept loop.

// proxyHeaderTimeout bounds how long a connection may take to send its
// header (a variable so tests can shorten it).
var proxyHeaderTimeout = 5 * time.Second

const (
	// proxyV1Max is the longest v1 header, CRLF included (the spec's 107).
	proxyV1Max = 107
	// proxyV2Max bounds a v2 header: 16 fixed bytes, addresses and TLVs.
	// AWS sends one TLV (the VPC endpoint id); 2 KiB leaves room for more.
	proxyV2Max = 2048
)

var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Errors of the PROXY layer; a connection that gets one is closed.
var (
	ErrProxyHeader  = errors.New("bad PROXY protocol header")
	ErrProxyRefused = errors.New("PROXY protocol header from a peer outside the allowed ranges")
	ErrProxyMissing = errors.New("no PROXY protocol header from an allowed peer")
)

// proxyHeader is a parsed header. Local is true for v2 LOCAL and v1
// UNKNOWN: the connection carries no client address.
type proxyHeader struct {
	Version  int
	Local    bool
	Src, Dst netip.AddrPort
}

// readProxyHeader reads one header from r, consuming exactly its bytes. It
// never reads more than proxyV2Max bytes.
func readProxyHeader(r *bufio.Reader) (proxyHeader, error) {
	b, err := r.Peek(1)
	if err != nil {
		return proxyHeader{}, err
	}
	switch b[0] {
	case 'P':
		return readProxyV1(r)
	case '\r':
		return readProxyV2(r)
	}
	return proxyHeader{}, fmt.Errorf("%w: no signature", ErrProxyHeader)
}

func readProxyV1(r *bufio.Reader) (proxyHeader, error) {
	line := make([]byte, 0, proxyV1Max)
	for {
		c, err := r.ReadByte()
		if err != nil {
			return proxyHeader{}, err
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
		if len(line) >= proxyV1Max {
			return proxyHeader{}, fmt.Errorf("%w: v1 line longer than %d bytes", ErrProxyHeader, proxyV1Max)
		}
	}
	rest, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok {
		return proxyHeader{}, fmt.Errorf("%w: v1 line does not end in CRLF", ErrProxyHeader)
	}
	f := bytes.Split(rest, []byte(" "))
	if string(f[0]) != "PROXY" || len(f) < 2 {
		return proxyHeader{}, fmt.Errorf("%w: v1 line does not start with PROXY", ErrProxyHeader)
	}
	h := proxyHeader{Version: 1}
	switch string(f[1]) {
	case "UNKNOWN":
		h.Local = true // the receiver must ignore what follows
		return h, nil
	case "TCP4", "TCP6":
	default:
		return proxyHeader{}, fmt.Errorf("%w: v1 protocol %q", ErrProxyHeader, f[1])
	}
	if len(f) != 6 {
		return proxyHeader{}, fmt.Errorf("%w: v1 wants 6 fields, got %d", ErrProxyHeader, len(f))
	}
	v6 := string(f[1]) == "TCP6"
	src, err1 := parseV1Addr(f[2], f[4], v6)
	dst, err2 := parseV1Addr(f[3], f[5], v6)
	if err := errors.Join(err1, err2); err != nil {
		return proxyHeader{}, err
	}
	h.Src, h.Dst = src, dst
	return h, nil
}

func parseV1Addr(ip, port []byte, v6 bool) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(string(ip))
	if err != nil || a.Is6() != v6 || a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%w: v1 address %q", ErrProxyHeader, ip)
	}
	if len(port) == 0 || len(port) > 5 || len(port) > 1 && port[0] == '0' {
		return netip.AddrPort{}, fmt.Errorf("%w: v1 port %q", ErrProxyHeader, port)
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return netip.AddrPort{}, fmt.Errorf("%w: v1 port %q", ErrProxyHeader, port)
		}
	}
	p, err := strconv.Atoi(string(port))
	if err != nil || p > 65535 {
		return netip.AddrPort{}, fmt.Errorf("%w: v1 port %q", ErrProxyHeader, port)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

func readProxyV2(r *bufio.Reader) (proxyHeader, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return proxyHeader{}, err
	}
	if !bytes.Equal(fixed[:12], proxyV2Sig) {
		return proxyHeader{}, fmt.Errorf("%w: v2 signature", ErrProxyHeader)
	}
	if fixed[12]>>4 != 2 {
		return proxyHeader{}, fmt.Errorf("%w: v2 version %d", ErrProxyHeader, fixed[12]>>4)
	}
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if 16+n > proxyV2Max {
		return proxyHeader{}, fmt.Errorf("%w: v2 header of %d bytes", ErrProxyHeader, 16+n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return proxyHeader{}, err
	}
	h := proxyHeader{Version: 2}
	switch fixed[12] & 0x0f {
	case 0: // LOCAL: health checks and the proxy's own traffic
		h.Local = true
		return h, nil
	case 1: // PROXY
	default:
		return proxyHeader{}, fmt.Errorf("%w: v2 command %d", ErrProxyHeader, fixed[12]&0x0f)
	}
	switch fixed[13] {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return proxyHeader{}, fmt.Errorf("%w: v2 IPv4 addresses need 12 bytes, got %d", ErrProxyHeader, n)
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case 0x21: // TCP over IPv6
		if n < 36 {
			return proxyHeader{}, fmt.Errorf("%w: v2 IPv6 addresses need 36 bytes, got %d", ErrProxyHeader, n)
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
	case 0x00: // UNSPEC: no address to believe
		h.Local = true
	default: // UDP or unix sockets: not for an HTTP listener
		return proxyHeader{}, fmt.Errorf("%w: v2 family/protocol 0x%02x", ErrProxyHeader, fixed[13])
	}
	return h, nil
}

// proxyListener wraps accepted connections in proxyConns.
type proxyListener struct {
	net.Listener
	allowed *trustedProxies
	log     zerolog.Logger
}

func (l *proxyListener) Accept() (net.Conn, error) {
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
	l  *proxyListener
	br *bufio.Reader

	once   sync.Once
	remote net.Addr
	err    error
}

func (c *proxyConn) init() {
	c.once.Do(func() {
		peer := c.Conn.RemoteAddr()
		c.remote = peer
		c.Conn.SetReadDeadline(time.Now().Add(proxyHeaderTimeout))
		defer c.Conn.SetReadDeadline(time.Time{})
		log := c.l.log.With().Str("peer", peer.String()).Logger()
		if !c.l.allowed.contains(peer.String()) {
			// Not an allowed proxy: refuse a header, serve anything else.
			if b, _ := c.br.Peek(len(proxyV2Sig)); bytes.HasPrefix(b, []byte("PROXY ")) || bytes.Equal(b, proxyV2Sig) {
				c.err = ErrProxyRefused
				log.Warn().Msg("proxy protocol header refused: peer not allowed")
			}
			return
		}
		h, err := readProxyHeader(c.br)
		if err != nil {
			if errors.Is(err, ErrProxyHeader) {
				c.err = err
			} else {
				c.err = fmt.Errorf("%w: %w", ErrProxyMissing, err)
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

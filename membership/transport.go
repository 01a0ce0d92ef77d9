package membership

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

var _ memberlist.NodeAwareTransport = (*transport)(nil)

// errDropped is returned for traffic the test filter drops.
var errDropped = errors.New("dropped by test filter")

// transport wraps memberlist's NetTransport so that outgoing streams (joins,
// push/pull, TCP fallback probes), while dialling or once connected, end when
// the Cluster shuts down instead of running out memberlist's TCPTimeout: a
// join abandoned at its deadline thus never outlives Run. It also carries the
// tests' partition filter.
type transport struct {
	*memberlist.NetTransport
	ctx    context.Context // cancelled by Shutdown; ends pending dials
	cancel context.CancelFunc
	// mu guards conns, the outgoing streams still open.
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	// drop, when set (tests only), reports whether traffic to addr is lost:
	// packets are silently discarded and dials fail.
	drop func(addr string) bool
}

// newTransport binds addr:port (port 0 picks a free port, with a few retries
// because UDP and TCP must both get it).
func newTransport(addr string, port int, cfg *memberlist.Config) (*transport, error) {
	attempts := 1
	if port == 0 {
		attempts = 10
	}
	var (
		nt  *memberlist.NetTransport
		err error
	)
	for range attempts {
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{addr},
			BindPort:  port,
			Logger:    cfg.Logger,
		})
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bind gossip %s: %w", net.JoinHostPort(addr, fmt.Sprint(port)), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &transport{NetTransport: nt, ctx: ctx, cancel: cancel, conns: make(map[*trackedConn]struct{})}, nil
}

func (t *transport) dropped(addr string) bool { return t.drop != nil && t.drop(addr) }

// WriteTo sends a packet unless the test filter drops it.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.dropped(addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteTo(b, addr)
}

// WriteToAddress sends a packet unless the test filter drops it.
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// DialTimeout dials a stream that Shutdown can interrupt.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.dropped(addr) {
		return nil, fmt.Errorf("dial %s: %w", addr, errDropped)
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(t.ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, t: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil { // shut down while dialling
		conn.Close()
		return nil, net.ErrClosed
	}
	t.conns[tc] = struct{}{}
	return tc, nil
}

// trackedConn is an outgoing stream that Shutdown closes.
type trackedConn struct {
	net.Conn
	t *transport
}

// Close closes the stream and forgets it.
func (c *trackedConn) Close() error {
	c.t.mu.Lock()
	delete(c.t.conns, c)
	c.t.mu.Unlock()
	return c.Conn.Close()
}

// DialAddressTimeout dials a stream that Shutdown can interrupt.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// Shutdown ends pending dials and open outgoing streams, then closes the
// listeners.
func (t *transport) Shutdown() error {
	t.mu.Lock()
	t.cancel()
	for c := range t.conns {
		c.Conn.Close()
	}
	t.mu.Unlock()
	return t.NetTransport.Shutdown()
}

package certs

import (
	"net"
	"syscall"
)

// quickAckReads is how many reads of a new TLS connection ack at once: the
// handshake and the first request.
const quickAckReads = 4

// QuickAckListener makes the first reads of each accepted connection
// acknowledge at once (TCP_QUICKACK). Go's TLS 1.3 server sends its
// session ticket before the client's Finished arrives, so it has nothing to
// send back after it: Linux delays that ACK, and a client with Nagle on
// (OpenSSL's s_client, ab) holds its request until the ACK comes, 40 ms
// per new connection. Acking those few reads at once removes the stall;
// later reads keep delayed ACKs.
type QuickAckListener struct{ net.Listener }

func (l QuickAckListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c, nil
	}
	return &quickAckConn{TCPConn: tc, rc: rc}, nil
}

type quickAckConn struct {
	*net.TCPConn
	rc    syscall.RawConn
	reads int // only the connection's reading goroutine touches it
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if c.reads < quickAckReads {
		c.reads++
		c.rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
	return n, err
}

package ajp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// ErrReplyTimeout is matched (errors.Is) by the error RoundTrip or a response
// body's Read returns when the backend stays silent longer than
// Config.ReplyTimeout between two packets. The error also implements
// net.Error with Timeout() true, so a proxy maps it to 504.
var ErrReplyTimeout = errors.New("ajp: reply timeout")

// timeoutError is a reply or ping timeout.
type timeoutError struct {
	op   string
	addr string
	d    time.Duration
	err  error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("ajp: %s from %s: no reply within %v", e.op, e.addr, e.d)
}
func (e *timeoutError) Unwrap() error        { return e.err }
func (e *timeoutError) Is(target error) bool { return target == ErrReplyTimeout }
func (e *timeoutError) Timeout() bool        { return true }
func (e *timeoutError) Temporary() bool      { return true }

var _ net.Error = (*timeoutError)(nil)

// aLongTimeAgo is a deadline in the past: setting it unblocks pending I/O.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one TCP connection to a backend's AJP port. It serves one request
// at a time; the goroutine that took it from the pool owns it until it is put
// back or closed.
type conn struct {
	nc     net.Conn
	pool   *hostPool
	br     *bufio.Reader
	rbuf   []byte // payload of the last packet read; reused by the next read
	wbuf   []byte // packet being written
	hdr    [headerLen]byte
	reused bool      // served at least one request before this one
	idleAt time.Time // when it was put back in the pool

	closeOnce sync.Once
}

func newConn(nc net.Conn, pool *hostPool, packetSize int) *conn {
	return &conn{
		nc:   nc,
		pool: pool,
		br:   bufio.NewReaderSize(nc, packetSize),
		rbuf: make([]byte, packetSize-headerLen),
		wbuf: make([]byte, 0, packetSize),
	}
}

// close closes the socket and frees its place in the pool. Safe to call more than once.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.nc.Close()
		if c.pool != nil {
			c.pool.release()
		}
	})
}

// write writes one packet, with a deadline of d (0: none).
func (c *conn) write(p []byte, d time.Duration) error {
	if d > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(d))
	}
	_, err := c.nc.Write(p)
	return err
}

// readPacket reads one container → proxy packet and returns its payload,
// which stays valid until the next readPacket. d bounds the wait for the
// packet (0: none). Lengths are checked against the packet size before
// anything is read, so a hostile peer cannot make it read unbounded data.
func (c *conn) readPacket(d time.Duration) ([]byte, error) {
	if d > 0 {
		c.nc.SetReadDeadline(time.Now().Add(d))
	}
	if _, err := io.ReadFull(c.br, c.hdr[:]); err != nil {
		return nil, err
	}
	if c.hdr[0] != magicToProxy0 || c.hdr[1] != magicToProxy1 {
		return nil, protoErr("bad magic %#02x %#02x", c.hdr[0], c.hdr[1])
	}
	n := int(binary.BigEndian.Uint16(c.hdr[2:]))
	if n == 0 {
		return nil, protoErr("empty packet")
	}
	if n > len(c.rbuf) {
		return nil, protoErr("packet length %d exceeds packet size %d", n, len(c.rbuf)+headerLen)
	}
	if _, err := io.ReadFull(c.br, c.rbuf[:n]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return c.rbuf[:n], nil
}

// cpingPacket is a complete CPING packet.
var cpingPacket = []byte{magicToServer0, magicToServer1, 0, 1, typeCPing}

// cping sends CPING and waits up to d for CPONG.
func (c *conn) cping(d time.Duration) error {
	if err := c.write(cpingPacket, d); err != nil {
		return err
	}
	p, err := c.readPacket(d)
	if err != nil {
		return err
	}
	if p[0] != typeCPong {
		return protoErr("answer to CPING has type %d, want CPONG (9)", p[0])
	}
	return nil
}

// isTimeout reports whether err is an I/O deadline expiring.
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

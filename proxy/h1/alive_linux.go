package h1

import (
	"errors"
	"net"
	"syscall"
)

// peeker tells whether an idle connection may still carry a request: a
// peek that does not block finds neither the member's close nor bytes it
// sent unasked (both mean the connection cannot be used). Its raw
// connection and callback are made once per connection, so a check
// allocates nothing.
type peeker struct {
	rc syscall.RawConn
	fn func(fd uintptr) bool
	ok bool
}

func (p *peeker) init(c net.Conn) {
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			p.rc = rc
			p.fn = p.peek
		}
	}
}

func (p *peeker) peek(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	p.ok = errors.Is(err, syscall.EAGAIN)
	return true // never wait
}

// alive reports whether the connection may carry a request; true when it
// cannot be checked (a wrapped connection).
func (p *peeker) alive() bool {
	if p.rc == nil {
		return true
	}
	p.ok = false
	return p.rc.Read(p.fn) == nil && p.ok
}

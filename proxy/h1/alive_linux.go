package h1

import (
	"errors"
	"net"
	"syscall"
)

// alive reports whether an idle connection may still carry a request: a
// peek that does not block finds neither the member's close nor bytes it
// sent unasked (both mean the connection cannot be used).
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = n < 0 && errors.Is(err, syscall.EAGAIN)
		return true // never wait
	})
	return err == nil && ok
}

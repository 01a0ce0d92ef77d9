//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ajp

import (
	"net"
	"syscall"
)

// peerOpen reports whether an idle connection is still open from the
// backend's side: a non-blocking peek sees neither EOF nor an error nor
// unexpected data. Tomcat closes idle AJP connections after its
// connectionTimeout; catching that here, before the request is written, is
// what makes reusing a pooled connection safe for any method.
func peerOpen(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, the normal state of an idle connection.
		// n == 0: EOF. n > 0: bytes nobody asked for, the stream is out of step.
		open = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && open
}

//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package ajp

import "net"

// peerOpen cannot peek without blocking on this platform: an idle connection
// closed by the backend is found when the request fails, and retried once on
// a fresh connection when that is safe (see RoundTrip).
func peerOpen(net.Conn) bool { return true }

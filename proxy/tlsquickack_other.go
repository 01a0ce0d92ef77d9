//go:build !linux

package proxy

import "net"

// quickAckListener is a no-op off Linux (see tlsquickack_linux.go).
type quickAckListener struct{ net.Listener }

//go:build !linux

package certs

import "net"

// QuickAckListener is a no-op off Linux (see tlsquickack_linux.go).
type QuickAckListener struct{ net.Listener }

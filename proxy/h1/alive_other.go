//go:build !linux

package h1

import "net"

// peeker cannot peek here: a connection the member closed is found when
// its request fails, and sent again when that is safe (see RoundTrip).
type peeker struct{}

func (p *peeker) init(net.Conn) {}

func (p *peeker) alive() bool { return true }

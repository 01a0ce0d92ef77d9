// Package sdnotify tells systemd how a Type=notify service is doing, by
// the sd_notify protocol: datagrams of newline-separated KEY=VALUE
// assignments sent to the unix datagram socket named by $NOTIFY_SOCKET
// (a path, or an abstract socket name starting with @). It is plain Go,
// without libsystemd or cgo.
//
// The states Tether sends are READY=1 (listening and in the cluster),
// RELOADING=1 with MONOTONIC_USEC, then READY=1 again (around a reload),
// and STOPPING=1 (draining). Outside systemd, $NOTIFY_SOCKET is unset and
// every call does nothing.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends states to one notify socket. The nil *Notifier sends
// nothing and never fails, so callers need not check whether systemd is
// there. It is safe for concurrent use: each call is one datagram on its
// own connection.
type Notifier struct {
	addr *net.UnixAddr
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET, or nil when it is unset
// or empty.
func FromEnv() *Notifier {
	return New(os.Getenv("NOTIFY_SOCKET"))
}

// New returns a Notifier for socket (a path, or @name for an abstract
// socket), or nil for "".
func New(socket string) *Notifier {
	if socket == "" {
		return nil
	}
	name := socket
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:] // the abstract namespace
	}
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// Send sends states (KEY=VALUE each) as one datagram.
func (n *Notifier) Send(states ...string) error {
	if n == nil {
		return nil
	}
	for _, s := range states {
		if !strings.Contains(s, "=") || strings.Contains(s, "\n") {
			return fmt.Errorf("sd_notify: %q is not one KEY=VALUE line", s)
		}
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	// systemd reads the datagram at once; a full queue is not worth a
	// stalled reload.
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(strings.Join(states, "\n") + "\n")); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Ready says the service is up: READY=1, with a STATUS line.
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1", "STATUS="+status)
}

// Reloading says a reload began: RELOADING=1 and MONOTONIC_USEC, the
// CLOCK_MONOTONIC time in microseconds that systemd (Type=notify-reload,
// systemd 253 and later) uses to tell this reload from an older one. Send
// Ready when it is done.
func (n *Notifier) Reloading() error {
	if n == nil {
		return nil
	}
	usec, err := monotonicUsec()
	if err != nil {
		return err
	}
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(usec, 10), "STATUS=reloading")
}

// Stopping says the service is draining and will exit: STOPPING=1.
func (n *Notifier) Stopping() error {
	return n.Send("STOPPING=1", "STATUS=draining")
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, the clock systemd
// compares MONOTONIC_USEC with (Go's monotonic readings have no fixed
// origin, so they cannot be used).
func monotonicUsec() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("sd_notify: clock_gettime: %w", err)
	}
	return ts.Nano() / 1e3, nil
}

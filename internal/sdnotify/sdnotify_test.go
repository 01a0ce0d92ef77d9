package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen opens a unix datagram socket as systemd's notify socket is, and
// returns its $NOTIFY_SOCKET value and the socket.
func listen(t *testing.T, abstract bool) (string, *net.UnixConn) {
	t.Helper()
	var name, env string
	if abstract {
		env = "@tether-sdnotify-test-" + strconv.Itoa(os.Getpid())
		name = "\x00" + env[1:]
	} else {
		// A short path: sun_path holds 108 bytes, and t.TempDir's can be longer.
		dir, err := os.MkdirTemp("", "sdn")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		name = filepath.Join(dir, "notify")
		env = name
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return env, c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read notify socket: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run("abstract="+strconv.FormatBool(abstract), func(t *testing.T) {
			env, c := listen(t, abstract)
			t.Setenv("NOTIFY_SOCKET", env)
			n := FromEnv()
			if n == nil {
				t.Fatal("FromEnv() = nil with NOTIFY_SOCKET set")
			}
			if err := n.Ready("serving 1 listener(s)"); err != nil {
				t.Fatal(err)
			}
			if got, want := read(t, c), "READY=1\nSTATUS=serving 1 listener(s)\n"; got != want {
				t.Errorf("Ready sent %q; want %q", got, want)
			}

			var ts unix.Timespec
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
			before := ts.Nano() / 1e3
			if err := n.Reloading(); err != nil {
				t.Fatal(err)
			}
			got := read(t, c)
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if len(lines) != 3 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") || lines[2] != "STATUS=reloading" {
				t.Fatalf("Reloading sent %q; want RELOADING=1, MONOTONIC_USEC=…, STATUS=reloading", got)
			}
			usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
			if after := ts.Nano() / 1e3; err != nil || usec < before || usec > after {
				t.Errorf("MONOTONIC_USEC=%d (%v); want CLOCK_MONOTONIC between %d and %d", usec, err, before, after)
			}

			if err := n.Stopping(); err != nil {
				t.Fatal(err)
			}
			if got, want := read(t, c), "STOPPING=1\nSTATUS=draining\n"; got != want {
				t.Errorf("Stopping sent %q; want %q", got, want)
			}
		})
	}
}

func TestNoSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := FromEnv()
	if n != nil {
		t.Fatalf("FromEnv() = %v with NOTIFY_SOCKET empty; want nil", n)
	}
	if err := n.Ready("x"); err != nil {
		t.Errorf("nil Notifier: Ready = %v; want nil", err)
	}
	if err := n.Reloading(); err != nil {
		t.Errorf("nil Notifier: Reloading = %v; want nil", err)
	}
}

func TestBadState(t *testing.T) {
	env, _ := listen(t, false)
	n := New(env)
	for _, s := range []string{"READY", "STATUS=a\nREADY=1"} {
		if err := n.Send(s); err == nil {
			t.Errorf("Send(%q) = nil; want an error (not one KEY=VALUE line)", s)
		}
	}
	if err := New(env + ".gone").Send("READY=1"); err == nil {
		t.Error("Send to a socket nobody listens on = nil; want an error")
	}
}

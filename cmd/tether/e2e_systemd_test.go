package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunNotifiesSystemd runs `tether run` as systemd runs a Type=notify
// service, with NOTIFY_SOCKET naming a socket of the test's own: READY=1
// once it serves, RELOADING=1 then READY=1 around a SIGHUP reload (the
// unit's ExecReload), STOPPING=1 on SIGTERM.
func TestRunNotifiesSystemd(t *testing.T) {
	needBinaries(t)
	dir, err := os.MkdirTemp("", "sdn") // short: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read notify socket: %v", err)
		}
		t.Logf("NOTIFY_SOCKET got %q", buf[:n])
		return string(buf[:n])
	}

	t.Setenv("NOTIFY_SOCKET", sock) // the child's environment is the test's
	p, _ := startTether(t, "{\n\tadmin 127.0.0.1:0\n}\n\nhttp://127.0.0.1:0 {\n\trespond \"hi\"\n}\n")
	if got := next(); !strings.HasPrefix(got, "READY=1\n") {
		t.Fatalf("first notification %q; want READY=1", got)
	}
	if code, _ := mustGet(t, "http://"+p.addr+"/", ""); code != 200 {
		t.Errorf("GET after READY=1 = %d; want 200", code)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if got := next(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("notification after SIGHUP %q; want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if got := next(); !strings.HasPrefix(got, "READY=1\n") {
		t.Fatalf("notification after the reload %q; want READY=1", got)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := next(); !strings.HasPrefix(got, "STOPPING=1\n") {
		t.Fatalf("notification after SIGTERM %q; want STOPPING=1", got)
	}
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		t.Fatal("tether run still running 40s after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("tether run exited %d after SIGTERM; want 0", code)
	}
}

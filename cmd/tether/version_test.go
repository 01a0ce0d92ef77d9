package main

import (
	"bytes"
	"runtime"
	"testing"
)

// TestVersion: a release build's `tether version` names the version and
// commit stamped with -X, the Go version and the platform.
func TestVersion(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v0.1.0", "4f1c2d3e4f1c2d3e4f1c2d3e4f1c2d3e4f1c2d3e"
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, &out); code != 0 {
		t.Fatalf("tether version exited %d: %s", code, out.String())
	}
	want := "tether v0.1.0 (commit 4f1c2d3e4f1c2d3e4f1c2d3e4f1c2d3e4f1c2d3e, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if out.String() != want {
		t.Errorf("tether version = %q; want %q", out.String(), want)
	}
}

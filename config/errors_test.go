package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorKeepsCause: a config error that comes from another one (a file
// that cannot be read) names its position and keeps the cause for
// errors.Is; one that does not has no cause.
func TestErrorKeepsCause(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, src, wantPos string
	}{
		{name: "import of a missing file", src: "import missing.caddy\n", wantPos: "Caddyfile:1:8"},
		{name: "import_jk of a missing workers file", src: "example.com {\n\timport_jk nowhere.properties\n}\n", wantPos: "Caddyfile:2:2"},
	} {
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		ce, ok := errors.AsType[*Error](err)
		if !ok {
			t.Fatalf("%s: error %v is not a *config.Error", tc.name, err)
		}
		if !strings.HasSuffix(ce.Pos.String(), tc.wantPos) {
			t.Errorf("%s: position %s; want %s", tc.name, ce.Pos, tc.wantPos)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: errors.Is(%v, fs.ErrNotExist) = false; want the cause kept", tc.name, err)
		}
	}
	_, err := Parse("Caddyfile", []byte("example.com {\n\tbogus_directive\n}\n"))
	if ce, ok := errors.AsType[*Error](err); !ok || ce.Unwrap() != nil {
		t.Errorf("an unknown directive: %v (cause %v); want a *config.Error without a cause", err, errors.Unwrap(err))
	}
}

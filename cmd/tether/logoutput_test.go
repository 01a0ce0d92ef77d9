package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/config"
)

// TestLogOutput: Caddy's global log { output file PATH; level; format }
// (and debug) send the process log where it says: a file, appended to and
// created, at the level asked; discard writes nothing.
func TestLogOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tether.log")
	if err := os.WriteFile(path, []byte("earlier line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("Caddyfile", []byte("{\n\tdebug\n\tlog {\n\t\toutput file "+path+"\n\t\tformat json\n\t}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	out, closeLog, err := logOutput(&stderr, cfg.Global.Log.Output)
	if err != nil {
		t.Fatal(err)
	}
	log, err := newLogger(out, cfg.Global.Log)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug().Str("member", "m1").Msg("a debug event")
	log.Info().Msg("an info event")
	closeLog()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 || lines[0] != "earlier line" {
		t.Fatalf("log file %q; want the earlier line and two events", data)
	}
	var ev struct{ Level, Message, Member string }
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil || ev.Level != "debug" || ev.Member != "m1" {
		t.Errorf("first event %q (%v); want a JSON debug event (debug sets the level)", lines[1], err)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr got %q; want nothing (the log goes to the file)", stderr.String())
	}

	out, closeLog, err = logOutput(&stderr, "discard")
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	log, _ = newLogger(out, config.Log{Format: "json"})
	log.Info().Msg("dropped")
	if stderr.Len() != 0 {
		t.Errorf("output discard wrote %q to stderr", stderr.String())
	}
	if _, _, err := logOutput(&stderr, filepath.Join(t.TempDir(), "no", "such", "dir", "x.log")); err == nil {
		t.Error("logOutput to a file in a missing directory succeeded; want an error")
	}
}

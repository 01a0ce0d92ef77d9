package membership

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/rs/zerolog"
)

func TestLogBridgeLevels(t *testing.T) {
	for _, tc := range []struct {
		name, line, wantLevel, wantMsg string
	}{
		{name: "debug", line: "[DEBUG] memberlist: Stream connection from=127.0.0.1:1\n", wantLevel: "debug", wantMsg: "Stream connection from=127.0.0.1:1"},
		{name: "info", line: "[INFO] memberlist: Marking b as failed\n", wantLevel: "info", wantMsg: "Marking b as failed"},
		{name: "warn", line: "[WARN] memberlist: Was able to connect to b over TCP\n", wantLevel: "warn", wantMsg: "Was able to connect to b over TCP"},
		{name: "err", line: "[ERR] memberlist: Decrypt packet failed\n", wantLevel: "error", wantMsg: "Decrypt packet failed"},
		{name: "error", line: "[ERROR] something\n", wantLevel: "error", wantMsg: "something"},
		{name: "untagged", line: "plain text\n", wantLevel: "info", wantMsg: "plain text"},
		{name: "closed while stopping", line: "[ERR] memberlist: Failed to send ack: write udp 127.0.0.1:1->127.0.0.1:2: use of closed network connection from=127.0.0.1:2\n",
			wantLevel: "debug", wantMsg: "Failed to send ack: write udp 127.0.0.1:1->127.0.0.1:2: use of closed network connection from=127.0.0.1:2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, _ := newStdLogger(zerolog.New(&buf))
			l.Print(tc.line)
			var got struct{ Level, Message, Component string }
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("log output %q: %v", buf.String(), err)
			}
			if got.Level != tc.wantLevel || got.Message != tc.wantMsg || got.Component != "memberlist" {
				t.Errorf("log of %q = %+v; want level %s, message %q, component memberlist", tc.line, got, tc.wantLevel, tc.wantMsg)
			}
		})
	}
}

func TestLogBridgeRespectsLevel(t *testing.T) {
	var buf bytes.Buffer
	l, closeLog := newStdLogger(zerolog.New(&buf).Level(zerolog.WarnLevel))
	l.Print("[DEBUG] memberlist: noise")
	l.Print("[INFO] memberlist: noise")
	closeLog()
	l.Print("[ERR] memberlist: after close")
	if buf.Len() != 0 {
		t.Errorf("below-level or after-close lines were written: %q", buf.String())
	}
}

func TestGenerateKey(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := newKeyring([]string{k})
	if err != nil || len(kr.GetPrimaryKey()) != 32 {
		t.Errorf("newKeyring(GenerateKey()) = %v; want a 32-byte primary key", err)
	}
	for _, bad := range []string{"not base64!", "c2hvcnQ="} {
		if _, err := newKeyring([]string{bad}); err == nil {
			t.Errorf("newKeyring(%q) = nil error; want an error", bad)
		}
	}
}

package node

import (
	"encoding/hex"
	"testing"
)

func TestReplicationBind(t *testing.T) {
	for _, tc := range []struct {
		gossip, want string
		wantErr      bool
	}{
		{gossip: "0.0.0.0:7946", want: "0.0.0.0:7947"},
		{gossip: "10.0.1.5:8000", want: "10.0.1.5:8001"},
		{gossip: "[::]:7946", want: "[::]:7947"},
		{gossip: "[fe80::1%eth0]:7946", want: "[fe80::1%eth0]:7947"},
		{gossip: ":7946", want: ":7947"},
		{gossip: "127.0.0.1:0", want: "127.0.0.1:0"}, // any free port, for tests
		{gossip: "127.0.0.1:65534", want: "127.0.0.1:65535"},
		{gossip: "127.0.0.1:65535", wantErr: true}, // no next port
		{gossip: "127.0.0.1:gossip", wantErr: true},
		{gossip: "127.0.0.1", wantErr: true},
	} {
		got, err := ReplicationBind(tc.gossip)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ReplicationBind(%q) = %q, %v; want %q, error %v", tc.gossip, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestAffinityKeyVector pins the derivation: HKDF-SHA256 of the gossip key,
// no salt, info "tether affinity cookie " + cluster, 32 bytes. The vector
// was computed independently (RFC 5869 with Python's hmac); a proxy that
// derived anything else would refuse its peers' cookies.
func TestAffinityKeyVector(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	got, err := AffinityKey(key, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if want := "31128e12e9140b0bb42cf8d53f9fcf8aac925285729728b2afee788dcb5ba5f0"; hex.EncodeToString(got) != want {
		t.Errorf("AffinityKey = %x; want %s", got, want)
	}
	other, _ := AffinityKey(key, "staging")
	if hex.EncodeToString(other) == hex.EncodeToString(got) {
		t.Error("two clusters with one gossip key derive the same affinity key")
	}
}

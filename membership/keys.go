package membership

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/hashicorp/memberlist"
)

// GenerateKey returns a new random 32-byte gossip key (AES-256-GCM), base64
// encoded, for `tether keygen` and Config.GossipKeys.
func GenerateKey() (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("read random key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// newKeyring decodes base64 gossip keys (16, 24 or 32 bytes: AES-128/192/256)
// into a memberlist keyring whose primary, the key used to send, is the
// first. The others are accepted on receipt, which is how keys rotate:
// add the new key second everywhere, then move it first, then drop the old
// one. It returns nil, nil for no keys (gossip in the clear).
func newKeyring(keys []string) (*memberlist.Keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	raw := make([][]byte, 0, len(keys))
	for i, k := range keys {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("gossip key %d: not base64: %w", i+1, err)
		}
		switch len(b) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf("gossip key %d: %d bytes, want 16, 24 or 32", i+1, len(b))
		}
		raw = append(raw, b)
	}
	kr, err := memberlist.NewKeyring(raw, raw[0])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	return kr, nil
}

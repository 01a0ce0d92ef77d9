package replication

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Frame envelopes: the first byte of every frame body.
const (
	envelopeClear = 0 // no keys configured: plaintext, unauthenticated
	envelopeGCM   = 1 // AES-256-GCM: nonce(12) || ciphertext || tag(16)
)

// hkdfInfo labels the key derived from a gossip key, so the replication key
// never equals the memberlist key even though operators configure one secret.
const hkdfInfo = "tether replication v1"

// errAuth means a frame could not be authenticated with any key (or was clear
// text where keys are required, or the reverse).
var errAuth = errors.New("frame not authenticated by any cluster key")

// keyring seals with the first key and opens with any. A nil *keyring means
// clear text.
type keyring struct {
	aeads []cipher.AEAD
	aad   []byte
}

func newKeyring(keys [][]byte, label string) (*keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	kr := &keyring{aad: append([]byte("tether-replication/1\x00"), label...)}
	for i, k := range keys {
		dk, err := hkdf.Key(sha256.New, k, nil, hkdfInfo, 32)
		if err != nil {
			return nil, fmt.Errorf("derive replication key %d: %w", i+1, err)
		}
		block, err := aes.NewCipher(dk)
		if err != nil {
			return nil, fmt.Errorf("replication key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("replication key %d: %w", i+1, err)
		}
		kr.aeads = append(kr.aeads, aead)
	}
	return kr, nil
}

// seal returns the frame for plaintext p: a 4-byte big-endian body length,
// then the body (envelope byte and, with keys, nonce and sealed p).
func (kr *keyring) seal(p []byte) []byte {
	if kr == nil {
		out := make([]byte, 5, 5+len(p))
		putFrameLen(out, 1+len(p))
		out[4] = envelopeClear
		return append(out, p...)
	}
	a := kr.aeads[0]
	n := 1 + a.NonceSize() + len(p) + a.Overhead()
	out := make([]byte, 4+n)
	putFrameLen(out, n)
	out[4] = envelopeGCM
	nonce := out[5 : 5+a.NonceSize()]
	rand.Read(nonce)
	a.Seal(out[5+a.NonceSize():5+a.NonceSize()], nonce, p, kr.aad)
	return out
}

// open authenticates and decrypts a frame body (without the length) and
// returns the plaintext, appended to dst[:0] (which must not overlap body).
func (kr *keyring) open(dst, body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, errAuth
	}
	if kr == nil {
		if body[0] != envelopeClear {
			return nil, errAuth
		}
		return body[1:], nil
	}
	if body[0] != envelopeGCM {
		return nil, errAuth
	}
	ns := kr.aeads[0].NonceSize()
	if len(body) < 1+ns+kr.aeads[0].Overhead() {
		return nil, errAuth
	}
	nonce, ct := body[1:1+ns], body[1+ns:]
	for _, a := range kr.aeads {
		// dst does not overlap ct, so a failed Open leaves the ciphertext
		// intact for the next key.
		if p, err := a.Open(dst[:0], nonce, ct, kr.aad); err == nil {
			return p, nil
		}
	}
	return nil, errAuth
}

func putFrameLen(b []byte, n int) {
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

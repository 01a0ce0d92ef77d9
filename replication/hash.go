package replication

// The table's shard of a key and the anti-entropy digests must agree across
// nodes, so they use this fixed, seedless hash rather than hash/maphash (whose
// seed differs per process). It is not cryptographic: peers are trusted (they
// hold the cluster key) and the shard count is fixed.

const (
	hashSeed = 0x243f6a8885a308d3
	hashMul  = 0x9e3779b97f4a7c15
)

// hashString mixes s into h, eight bytes at a time.
func hashString[S string | []byte](h uint64, s S) uint64 {
	h ^= uint64(len(s)) * hashMul
	for len(s) >= 8 {
		v := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = mix(h ^ v)
		s = s[8:]
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		v |= uint64(s[i]) << (8 * i)
	}
	return mix(h ^ v ^ 0xff)
}

// hashUint64 mixes v into h.
func hashUint64(h, v uint64) uint64 { return mix(h ^ v) }

func mix(h uint64) uint64 {
	h *= hashMul
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return h
}

// keyHash is the placement hash of (balancer, key): it picks the shard.
func keyHash(balancer, key string) uint64 {
	return hashString(hashString(hashSeed, balancer), key)
}

// keyHashBytes is keyHash of a key held as bytes.
func keyHashBytes(balancer string, key []byte) uint64 {
	return hashString(hashString(hashSeed, balancer), key)
}

// entryDigest is an entry's contribution to its shard's digest: its identity
// and version, not its expiry (expiry moves lazily and differs between nodes
// by design; see doc.go).
func entryDigest(kh uint64, origin string, v Version, deleted bool) uint64 {
	h := hashUint64(kh, uint64(v))
	h = hashString(h, origin)
	if deleted {
		h = mix(h ^ 1)
	}
	return h
}

// memberStateDigest is a member state's contribution to the member-state
// digest.
func memberStateDigest(m MemberState) uint64 {
	h := hashString(hashString(hashString(hashSeed, m.Balancer), m.Member), m.State)
	h = hashString(h, m.Origin)
	return hashUint64(h, uint64(m.Version))
}

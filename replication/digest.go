package replication

import "math"

// Anti-entropy digests.
//
// A shard's digest is the xor of one 64-bit hash per entry (entryDigest: key,
// version, origin, tombstone; not expiry), so it is kept up to date in O(1)
// per change and two nodes holding the same entries have equal digests
// whatever the order they learned them in.
//
// Comparing whole-table digests would be useless under load and near expiry:
// with thousands of changes a second, some are always in flight in the push
// stream, and expired entries are swept at different moments on each node,
// so nearly every shard would differ at every round and be resent in full.
// Digests are therefore taken over a window both sides agree on, carried in
// the digest message:
//
//   - entries whose version is newer than vcut (the asking node's clock minus
//     digestSettle) are left out: they are still being pushed;
//   - entries whose expiry bucket is not after ecut's (the asking node's
//     clock plus digestExpiryMargin) are left out: they are about to be
//     swept.
//
// To compute that in O(buckets) rather than O(entries), each shard keeps the
// xor per expiry bucket (expBucketSec seconds wide; about 230 buckets for
// the default 30m TTL) and, in a ring of the last ringSize seconds, the xor
// per version second. The recent entries' contributions are xored back out
// of the sum. That assumes a recent entry does not expire within
// digestExpiryMargin, true for any TTL above a few seconds; when it does not
// hold, a shard is merely resent.
//
// An entry lost in the push stream is older than vcut at the next round and
// repaired then: a lost change is repaired within AntiEntropyInterval +
// digestSettle.

const (
	expBucketSec       = 10
	ringSize           = 16
	digestSettle       = 3  // seconds
	digestExpiryMargin = 10 // seconds
)

type ringSlot struct {
	vb uint32 // version second
	x  uint64
}

type shardDigest struct {
	exp    map[uint32]uint64 // expiry bucket → xor
	recent [ringSize]ringSlot
}

// flipLocked adds s to the shard's digest, or removes it: xor is its own
// inverse. Removal must see the slot exactly as it was added. sh.mu is held
// for writing.
func (t *Table) flipLocked(sh *shard, kh uint64, s slot) {
	c := entryDigest(kh, t.names.name(s.origin), s.ver, s.route == 0)
	if sh.exp == nil {
		sh.exp = make(map[uint32]uint64)
	}
	b := s.exp / expBucketSec
	if x := sh.exp[b] ^ c; x == 0 {
		delete(sh.exp, b)
	} else {
		sh.exp[b] = x
	}
	vb := versionSec(s.ver)
	r := &sh.recent[vb%ringSize]
	switch {
	case r.vb == vb:
		r.x ^= c
	case vb > r.vb:
		// A newer second claims the slot; the older one is past any vcut.
		*r = ringSlot{vb: vb, x: c}
	}
}

func versionSec(v Version) uint32 {
	s := uint64(v) >> 16 / 1000
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}

// digestLocked returns the shard's digest over entries with version second
// at most vcut and expiry bucket after ecut's. sh.mu is held.
func (sh *shard) digestLocked(vcut, ecut uint32) uint64 {
	var d uint64
	eb := ecut / expBucketSec
	for b, x := range sh.exp {
		if b > eb {
			d ^= x
		}
	}
	for _, r := range sh.recent {
		if r.vb > vcut {
			d ^= r.x
		}
	}
	return d
}

// digestWindow returns the window a node asks its peer to compare at now
// (unix seconds). With full (a node not yet synced, the first round of a
// connection, the round after a queue overflow) it asks for everything
// (vcut max, ecut 0): recent entries included, since the push stream may
// have lost them.
func digestWindow(nowS uint32, full bool) (vcut, ecut uint32) {
	if full {
		return math.MaxUint32, 0
	}
	return nowS - min(nowS, digestSettle), addSec(nowS, digestExpiryMargin)
}

// digests returns the per-shard digests over the window.
func (t *Table) digests(vcut, ecut uint32) *[numShards]uint64 {
	var d [numShards]uint64
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		d[i] = sh.digestLocked(vcut, ecut)
		sh.mu.RUnlock()
	}
	return &d
}

package replication

import (
	"bytes"
	"hash/maphash"
)

// A shard's storage holds no pointers, so the garbage collector does not
// look inside it: a million entries are a few hundred heap objects (a map's
// groups, one byte arena per shard) instead of a string each, which every
// GC cycle had to mark (bench/README.md, issue 18).
//
// An entry's stored key (storeKey: balancer id and session key) is kept in
// the shard's arena, keys, a []byte to which keys are appended; a record
// holds its slot and the key's offset and length. The map is indexed by a
// 64-bit hash of the stored key, keyed with a seed drawn per table
// (hash/maphash), so a client who chooses session ids cannot aim them at one
// index: every hit is checked against the full key in the arena, and a key
// whose index is taken by another key goes to spill, a short list searched
// in full. With a random 64-bit hash that list stays empty in practice (the
// chance of one collision among 10,000 entries of a shard is 3e-12); it is
// there so that a collision is correct, not fast.
//
// Removing an entry leaves its bytes in the arena as dead; when the dead
// bytes exceed half the live ones, the arena is rebuilt (compactLocked), so
// a shard's arena holds at most 1.5 times its keys plus slack, and each
// removal pays O(1) amortized.

// rec is a stored entry: its slot and where its stored key is in the arena.
type rec struct {
	slot
	off  uint32 // offset of the stored key in shard.keys
	klen uint16 // length of the stored key
}

// spilled is an entry whose index is taken by another key.
type spilled struct {
	h uint64
	rec
}

// compactMin is the dead arena bytes below which a shard is not compacted.
const compactMin = 1024

// maxPerShard bounds a shard's entries (Config.MaxEntries / numShards), so
// that arena offsets fit 32 bits: the arena holds at most 1.5 times the live
// keys' bytes plus compactMin before a key is appended.
const maxPerShard = 1 << 22

// The array length is negative, and compiling fails, if they do not fit.
var _ [1<<32 - 1 - (maxPerShard*(MaxKeyLen+2)*3/2 + compactMin + MaxKeyLen + 2)]struct{}

// index returns the map index of stored key k.
func (t *Table) index(k []byte) uint64 {
	return maphash.Bytes(t.seed, k) & t.indexMask
}

func (sh *shard) keyOf(r *rec) []byte {
	return sh.keys[r.off : int(r.off)+int(r.klen)]
}

// lenLocked returns the number of entries in sh.
func (sh *shard) lenLocked() int { return len(sh.m) + len(sh.spill) }

// getLocked returns the slot of stored key k, whose index is h. sh.mu is
// held.
func (sh *shard) getLocked(h uint64, k []byte) (slot, bool) {
	if r, ok := sh.m[h]; ok && bytes.Equal(sh.keyOf(&r), k) {
		return r.slot, true
	}
	for i := range sh.spill {
		if r := &sh.spill[i]; r.h == h && bytes.Equal(sh.keyOf(&r.rec), k) {
			return r.slot, true
		}
	}
	return slot{}, false
}

// putLocked stores s for stored key k (index h), replacing its slot if k is
// present and adding it otherwise; it reports whether it added k. It does
// not bound the shard (see insertLocked). sh.mu is held for writing.
func (sh *shard) putLocked(h uint64, k []byte, s slot) bool {
	r, taken := sh.m[h]
	if taken && bytes.Equal(sh.keyOf(&r), k) {
		r.slot = s
		sh.m[h] = r
		return false
	}
	for i := range sh.spill {
		if r := &sh.spill[i]; r.h == h && bytes.Equal(sh.keyOf(&r.rec), k) {
			r.slot = s
			return false
		}
	}
	if sh.dead >= compactMin && 2*sh.dead > len(sh.keys)-sh.dead {
		sh.compactLocked()
	}
	nr := rec{slot: s, off: uint32(len(sh.keys)), klen: uint16(len(k))}
	sh.keys = append(sh.keys, k...)
	if taken {
		sh.spill = append(sh.spill, spilled{h: h, rec: nr})
	} else {
		sh.m[h] = nr
	}
	return true
}

// delLocked removes stored key k (index h), if present. It does not compact
// the arena, so it may be called while forEachLocked walks the shard. sh.mu
// is held for writing.
func (sh *shard) delLocked(h uint64, k []byte) {
	if r, ok := sh.m[h]; ok && bytes.Equal(sh.keyOf(&r), k) {
		delete(sh.m, h)
		sh.dead += int(r.klen)
		return
	}
	for i := range sh.spill {
		if r := &sh.spill[i]; r.h == h && bytes.Equal(sh.keyOf(&r.rec), k) {
			sh.dead += int(r.klen)
			last := len(sh.spill) - 1
			sh.spill[i] = sh.spill[last]
			sh.spill = sh.spill[:last]
			if last == 0 {
				sh.spill = nil
			}
			return
		}
	}
}

// forEachLocked calls fn with every entry of sh (its index, stored key and
// slot) until fn returns false. fn may remove the entry it was given with
// delLocked, and no other; k is valid until the shard is next written.
// sh.mu is held (for writing if fn removes).
func (sh *shard) forEachLocked(fn func(h uint64, k []byte, s slot) bool) {
	for h, r := range sh.m {
		if !fn(h, sh.keyOf(&r), r.slot) {
			return
		}
	}
	// Backwards, so that removing entry i (swapped with the last, which
	// was seen already) skips none.
	for i := len(sh.spill) - 1; i >= 0; i-- {
		r := sh.spill[i]
		if !fn(r.h, sh.keyOf(&r.rec), r.slot) {
			return
		}
	}
}

// compactLocked rebuilds the arena with only the live keys. sh.mu is held
// for writing, and no forEachLocked is under way.
func (sh *shard) compactLocked() {
	live := len(sh.keys) - sh.dead
	if live == 0 {
		sh.keys, sh.dead = nil, 0
		return
	}
	keys := make([]byte, 0, live+live/8)
	for h, r := range sh.m {
		k := sh.keyOf(&r)
		r.off = uint32(len(keys))
		keys = append(keys, k...)
		sh.m[h] = r // an existing key: allowed while ranging
	}
	for i := range sh.spill {
		r := &sh.spill[i]
		k := sh.keyOf(&r.rec)
		r.off = uint32(len(keys))
		keys = append(keys, k...)
	}
	sh.keys, sh.dead = keys, 0
}

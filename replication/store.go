package replication

import (
	"bytes"
	"hash/maphash"
)

// A shard's storage holds no pointers, so the garbage collector does not
// look inside it: a million entries are a few thousand heap objects (maps'
// groups, one byte arena per shard) instead of a string each, which every
// GC cycle had to mark (bench/README.md, issue 18).
//
// An entry's stored key (storeKey: balancer id and session key) is kept in
// the shard's arena, keys, a []byte to which keys are appended; a record
// (rec) holds the entry's slot and its key's offset and length. Every
// lookup compares the full key, so no hash collision can return another
// key's entry. Records are found by hash, on three levels:
//
//   - m, by the key's placement hash (keyHash, already computed to pick the
//     shard, so the common case hashes the key once);
//   - spill, for a key whose placement hash m holds for another key: by a
//     64-bit hash keyed with a seed drawn per table (hash/maphash). The
//     placement hash is fixed and not keyed (all nodes agree on it), so a
//     client choosing session ids could make many collide there; it cannot
//     aim them at one keyed hash;
//   - spill2, a list searched in full, for a key whose keyed hash spill
//     holds for another key: chance only (3e-12 among 10,000 keys).
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

// spilled is an entry of spill2: its keyed hash and record.
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

// keyedHash returns the spill index of stored key k.
func (t *Table) keyedHash(k []byte) uint64 {
	return maphash.Bytes(t.seed, k) & t.indexMask
}

func (sh *shard) keyOf(r *rec) []byte {
	return sh.keys[r.off : int(r.off)+int(r.klen)]
}

// lenLocked returns the number of entries in sh.
func (sh *shard) lenLocked() int { return len(sh.m) + len(sh.spill) + len(sh.spill2) }

// where a stored key is, as found by findLocked.
const (
	inNone = iota
	inM
	inSpill
	inSpill2
)

// findLocked looks up stored key k, whose placement hash is kh: it returns
// the record, where it is (inNone if absent), its index there (kh masked
// for m; the keyed hash for spill and spill2), and for spill2 its position.
// sh.mu is held.
func (t *Table) findLocked(sh *shard, kh uint64, k []byte) (r rec, in int, h uint64, i int) {
	h = kh & t.indexMask
	r, ok := sh.m[h]
	if ok && bytes.Equal(sh.keyOf(&r), k) {
		return r, inM, h, 0
	}
	if len(sh.spill) == 0 && len(sh.spill2) == 0 {
		return rec{}, inNone, h, 0
	}
	h = t.keyedHash(k)
	if r, ok := sh.spill[h]; ok && bytes.Equal(sh.keyOf(&r), k) {
		return r, inSpill, h, 0
	}
	for i := range sh.spill2 {
		if s := &sh.spill2[i]; s.h == h && bytes.Equal(sh.keyOf(&s.rec), k) {
			return s.rec, inSpill2, h, i
		}
	}
	return rec{}, inNone, h, 0
}

// getLocked returns the slot of stored key k (placement hash kh). sh.mu is
// held. The common cases, a key found in m and a key absent from a shard
// with nothing spilled, take one map lookup.
func (t *Table) getLocked(sh *shard, kh uint64, k []byte) (slot, bool) {
	if sh.lenLocked() == 0 {
		return slot{}, false
	}
	if r, ok := sh.m[kh&t.indexMask]; ok && bytes.Equal(sh.keyOf(&r), k) {
		return r.slot, true
	}
	if len(sh.spill) == 0 && len(sh.spill2) == 0 {
		return slot{}, false
	}
	r, in, _, _ := t.findLocked(sh, kh, k)
	return r.slot, in != inNone
}

// putLocked stores s for stored key k (placement hash kh), replacing its
// slot if k is present and adding it otherwise; it reports whether it added
// k. It does not bound the shard (see insertLocked). sh.mu is held for
// writing.
func (t *Table) putLocked(sh *shard, kh uint64, k []byte, s slot) bool {
	r, in, h, i := t.findLocked(sh, kh, k)
	r.slot = s
	switch in {
	case inM:
		sh.m[h] = r
		return false
	case inSpill:
		sh.spill[h] = r
		return false
	case inSpill2:
		sh.spill2[i].rec = r
		return false
	}
	sh.compactIfDueLocked()
	r.off, r.klen = uint32(len(sh.keys)), uint16(len(k))
	sh.keys = append(sh.keys, k...)
	if h := kh & t.indexMask; !mapHas(sh.m, h) {
		sh.m[h] = r
		return true
	}
	h = t.keyedHash(k)
	if !mapHas(sh.spill, h) {
		if sh.spill == nil {
			sh.spill = make(map[uint64]rec)
		}
		sh.spill[h] = r
		return true
	}
	sh.spill2 = append(sh.spill2, spilled{h: h, rec: r})
	return true
}

func mapHas(m map[uint64]rec, h uint64) bool {
	_, ok := m[h]
	return ok
}

// delLocked removes stored key k (placement hash kh), if present. It does
// not compact the arena, so it may be called while forEachLocked walks the
// shard. sh.mu is held for writing.
func (t *Table) delLocked(sh *shard, kh uint64, k []byte) {
	r, in, h, i := t.findLocked(sh, kh, k)
	switch in {
	case inNone:
		return
	case inM:
		delete(sh.m, h)
	case inSpill:
		delete(sh.spill, h)
	case inSpill2:
		last := len(sh.spill2) - 1
		sh.spill2[i] = sh.spill2[last]
		sh.spill2 = sh.spill2[:last]
		if last == 0 {
			sh.spill2 = nil
		}
	}
	sh.dead += int(r.klen)
}

// forEachLocked calls fn with every entry of sh (its stored key and slot)
// until fn returns false. fn may remove the entry it was given, and no
// other; k is valid until the shard is next written. sh.mu is held (for
// writing if fn removes).
func (sh *shard) forEachLocked(fn func(k []byte, s slot) bool) {
	for _, r := range sh.m {
		if !fn(sh.keyOf(&r), r.slot) {
			return
		}
	}
	for _, r := range sh.spill {
		if !fn(sh.keyOf(&r), r.slot) {
			return
		}
	}
	// Backwards, so that removing entry i (swapped with the last, which
	// was seen already) skips none.
	for i := len(sh.spill2) - 1; i >= 0; i-- {
		r := sh.spill2[i]
		if !fn(sh.keyOf(&r.rec), r.slot) {
			return
		}
	}
}

// compactIfDueLocked rebuilds the arena if its dead bytes are over half the
// live ones. sh.mu is held for writing, and no forEachLocked is under way.
func (sh *shard) compactIfDueLocked() {
	if sh.dead >= compactMin && 2*sh.dead > len(sh.keys)-sh.dead {
		sh.compactLocked()
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
	move := func(r *rec) {
		k := sh.keyOf(r)
		r.off = uint32(len(keys))
		keys = append(keys, k...)
	}
	for h, r := range sh.m {
		move(&r)
		sh.m[h] = r // an existing key: allowed while ranging
	}
	for h, r := range sh.spill {
		move(&r)
		sh.spill[h] = r
	}
	for i := range sh.spill2 {
		move(&sh.spill2[i].rec)
	}
	sh.keys, sh.dead = keys, 0
}

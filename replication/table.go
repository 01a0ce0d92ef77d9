package replication

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// numShards is the number of table shards. It is part of the wire protocol:
// anti-entropy digests are per shard, and a key's shard is keyHash % numShards
// on every node.
const numShards = 256

// MaxKeyLen is the longest session key the table stores, in bytes.
const MaxKeyLen = 512

// MaxNameLen is the longest balancer, route or node name, in bytes.
const MaxNameLen = 255

// ErrInvalid is returned by the write methods for a balancer, key, route,
// member or state that is empty or too long.
var ErrInvalid = errors.New("invalid balancer, key, route or name")

// slot is a stored entry's state; its key (balancer id and session key, see
// storeKey) is kept apart (store.go).
type slot struct {
	ver    Version
	exp    uint32 // unix seconds
	route  uint16 // interned; 0 means tombstone
	origin uint16 // interned
}

// shard is one of numShards independently locked parts of the table.
type shard struct {
	// mu guards the fields below. Lock order: shard.mu before Table.outMu;
	// never two shards at once.
	mu     sync.RWMutex
	m      map[uint64]rec // by placement hash (store.go)
	spill  map[uint64]rec // by keyed hash; nil until needed
	spill2 []spilled
	keys   []byte // arena of the stored keys
	dead   int    // bytes of keys that no entry refers to
	shardDigest
}

// Table is the replicated session table. All methods are safe for concurrent
// use. Reads (Get) take one shard read lock and never allocate; writes take
// one shard lock and, for replicated changes, append to the outgoing queue
// that Run sends to peers.
type Table struct {
	cfg    Config
	log    zerolog.Logger
	ttl    uint32 // seconds
	slack  uint32 // seconds; see Touch
	perCap int    // max entries per shard

	// seed keys the hash of spilled keys (store.go); indexMask is all ones
	// except in tests that force collisions.
	seed      maphash.Seed
	indexMask uint64

	shards [numShards]shard
	names  *names
	clock  clock
	count  atomic.Int64

	lastEvictLog atomic.Int64 // unix seconds of the last eviction warning

	// outMu guards out, outMS and outOverflow: local changes waiting for the
	// flusher.
	outMu       sync.Mutex
	out         []pending
	outSpare    []pending // the flusher's previous batch, reused
	outMS       []MemberState
	outOverflow bool
	outKick     chan struct{} // cap 1

	ms memberStates

	sync  syncState
	stats peerStats
}

// New validates cfg, fills defaults, loads the member-state file if there is
// one, and binds the sync listener if cfg.Bind is set. It never panics. The
// table serves reads and writes at once; replication starts with Run. A table
// whose Run is never called must be closed with Close.
func New(cfg Config) (*Table, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Table{
		cfg:       cfg,
		log:       cfg.Logger.With().Str("component", "replication").Str("node", cfg.NodeName).Logger(),
		ttl:       uint32(max(cfg.SessionTTL/time.Second, 1)),
		seed:      maphash.MakeSeed(),
		indexMask: ^uint64(0),
		names:     newNames(),
		outKick:   make(chan struct{}, 1),
	}
	t.slack = max(t.ttl/4, 1)
	t.perCap = min(max((cfg.MaxEntries+numShards-1)/numShards, 1), maxPerShard)
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]rec)
	}
	if _, err := t.names.intern(cfg.NodeName); err != nil {
		return nil, err
	}
	if err := t.ms.init(cfg.StatePath); err != nil {
		return nil, err
	}
	for _, m := range t.ms.m {
		// After a restart, new states must win over the persisted ones.
		t.clock.observe(m.Version, time.Unix(1<<40, 0), 0)
	}
	kr, err := newKeyring(cfg.Keys, cfg.Label)
	if err != nil {
		return nil, err
	}
	t.sync.init(kr)
	if cfg.Bind != "" {
		ln, err := net.Listen("tcp", cfg.Bind)
		if err != nil {
			return nil, fmt.Errorf("listen for replication on %s: %w", cfg.Bind, err)
		}
		t.sync.ln = ln
	}
	return t, nil
}

// storeKey builds the stored key of (balancer id, session key) into buf: two
// bytes of balancer id, then the key.
func storeKey(buf []byte, bal uint16, key string) []byte {
	buf = append(buf, byte(bal>>8), byte(bal))
	return append(buf, key...)
}

func (t *Table) shardOf(balancer, key string) (*shard, uint64) {
	h := keyHash(balancer, key)
	return &t.shards[h%numShards], h
}

func unixSec(now time.Time) uint32 {
	s := now.Unix()
	switch {
	case s < 0:
		return 0
	case s > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(s)
}

func addSec(a, b uint32) uint32 {
	if a > math.MaxUint32-b {
		return math.MaxUint32
	}
	return a + b
}

// Get returns the route that the session key of balancer is pinned to, if
// there is a live (not deleted, not expired at now) entry. It does not extend
// the entry's expiry (see Touch), does no I/O and does not allocate for keys
// up to 126 bytes.
func (t *Table) Get(balancer, key string, now time.Time) (route string, ok bool) {
	bal, ok := t.names.lookup(balancer)
	if !ok {
		return "", false
	}
	sh, kh := t.shardOf(balancer, key)
	var buf [128]byte
	k := storeKey(buf[:0], bal, key)
	sh.mu.RLock()
	s, ok := t.getLocked(sh, kh, k)
	sh.mu.RUnlock()
	if !ok || s.route == 0 || s.exp <= unixSec(now) {
		return "", false
	}
	return t.names.name(s.route), true
}

// Lookup returns the live entry for the session key of balancer, including its
// version and origin; ok is false if there is none. It allocates nothing
// beyond the returned Entry.
func (t *Table) Lookup(balancer, key string, now time.Time) (e Entry, ok bool) {
	bal, ok := t.names.lookup(balancer)
	if !ok {
		return Entry{}, false
	}
	sh, kh := t.shardOf(balancer, key)
	var buf [128]byte
	k := storeKey(buf[:0], bal, key)
	sh.mu.RLock()
	s, ok := t.getLocked(sh, kh, k)
	sh.mu.RUnlock()
	if !ok || s.route == 0 || s.exp <= unixSec(now) {
		return Entry{}, false
	}
	return t.entryOf(balancer, key, s), true
}

func (t *Table) entryOf(balancer, key string, s slot) Entry {
	return Entry{
		Balancer: balancer,
		Key:      key,
		Route:    t.names.name(s.route),
		Origin:   t.names.name(s.origin),
		Version:  s.ver,
		Expires:  time.Unix(int64(s.exp), 0).UTC(),
		Deleted:  s.route == 0,
	}
}

func validName(s string) bool { return s != "" && len(s) <= MaxNameLen }
func validKey(s string) bool  { return s != "" && len(s) <= MaxKeyLen }

// Set pins the session key of balancer to route, as a local write that is
// replicated to every peer: the entry gets a new Version from this node and
// expires SessionTTL (plus the refresh slack, see Touch) after now. If the key
// is already pinned to route, Set only refreshes it as Touch does and returns
// the existing entry; it never creates a version for an unchanged pin, so the
// proxy may call it on every response that carries the session.
//
// Use Set for a failover pin (the member chosen for a session whose member is
// lost) and for learned stickiness (sticky learn).
func (t *Table) Set(balancer, key, route string, now time.Time) (Entry, error) {
	if !validName(balancer) || !validKey(key) || !validName(route) {
		return Entry{}, ErrInvalid
	}
	bal, err := t.names.intern(balancer)
	if err != nil {
		return Entry{}, err
	}
	rid, err := t.names.intern(route)
	if err != nil {
		return Entry{}, err
	}
	return t.write(balancer, key, bal, rid, now), nil
}

// Delete replaces the pin of the session key of balancer with a tombstone,
// replicated like Set, so that the session is routed by its own id again on
// every node. A tombstone is written even if no entry is known locally (a
// peer may have one not yet received here). Use it when a session id changes
// (the old id's pin is dead) or the caller learns the session ended.
func (t *Table) Delete(balancer, key string, now time.Time) (Entry, error) {
	if !validName(balancer) || !validKey(key) {
		return Entry{}, ErrInvalid
	}
	bal, err := t.names.intern(balancer)
	if err != nil {
		return Entry{}, err
	}
	return t.write(balancer, key, bal, 0, now), nil
}

// write stores a local write of route rid (0: tombstone) and queues it.
func (t *Table) write(balancer, key string, bal, rid uint16, now time.Time) Entry {
	sh, kh := t.shardOf(balancer, key)
	var buf [128]byte
	k := storeKey(buf[:0], bal, key)
	nowS := unixSec(now)
	exp := addSec(addSec(nowS, t.ttl), t.slack)
	self := uint16(1) // the node name is interned first
	sh.mu.Lock()
	old, had := t.getLocked(sh, kh, k)
	if had && old.exp <= nowS {
		t.removeLocked(sh, k, old) // expired: as if absent
		had = false
	}
	if had && rid != 0 && old.route == rid {
		// Unchanged pin: a refresh, not a new version.
		if addSec(nowS, t.ttl) <= old.exp {
			sh.mu.Unlock()
			return t.entryOf(balancer, key, old)
		}
		t.flipLocked(sh, kh, old)
		old.exp = exp
		t.flipLocked(sh, kh, old)
		t.putLocked(sh, kh, k, old)
		sh.mu.Unlock()
		t.enqueue(pending{key: key, bal: bal, s: old})
		return t.entryOf(balancer, key, old)
	}
	if had && rid == 0 && old.route == 0 {
		sh.mu.Unlock()
		return t.entryOf(balancer, key, old) // already deleted
	}
	s := slot{ver: t.clock.tick(now), exp: exp, route: rid, origin: self}
	if had {
		s.exp = max(s.exp, old.exp)
		t.flipLocked(sh, kh, old)
		t.putLocked(sh, kh, k, s)
	} else {
		t.insertLocked(sh, kh, k, s, nowS)
	}
	t.flipLocked(sh, kh, s)
	sh.mu.Unlock()
	t.enqueue(pending{key: key, bal: bal, s: s})
	return t.entryOf(balancer, key, s)
}

// insertLocked adds stored key k (placement hash kh), which sh does not
// hold, to sh, evicting first if sh is full. sh.mu is held. The caller
// updates the digest for the new slot.
func (t *Table) insertLocked(sh *shard, kh uint64, k []byte, s slot, nowS uint32) {
	if sh.lenLocked() >= t.perCap {
		t.evictLocked(sh, nowS)
	}
	if t.putLocked(sh, kh, k, s) {
		t.count.Add(1)
	}
}

// evictLocked makes room in a full shard: it drops expired entries and, if
// that is not enough, the sixteenth of the shard with the oldest expiry
// (approximately the least recently used sessions, since Touch moves expiry).
// Evicting in batches keeps the cost per insert constant. sh.mu is held.
func (t *Table) evictLocked(sh *shard, nowS uint32) {
	t.sweepLocked(sh, nowS)
	if sh.lenLocked() < t.perCap {
		t.logEvict(0)
		return
	}
	exps := make([]uint32, 0, sh.lenLocked())
	sh.forEachLocked(func(_ []byte, s slot) bool {
		exps = append(exps, s.exp)
		return true
	})
	slices.Sort(exps)
	n := max(len(exps)/16, 1)
	limit := exps[n-1]
	evicted := 0
	sh.forEachLocked(func(k []byte, s slot) bool {
		if s.exp <= limit {
			t.removeLocked(sh, k, s)
			evicted++
		}
		return evicted < n
	})
	t.logEvict(evicted)
}

func (t *Table) logEvict(evicted int) {
	if evicted == 0 {
		return
	}
	t.sync.evicted.Add(uint64(evicted))
	// At most one warning a minute: a full table evicts on many inserts.
	now := time.Now().Unix()
	last := t.lastEvictLog.Load()
	if now-last >= 60 && t.lastEvictLog.CompareAndSwap(last, now) {
		t.log.Warn().Int("evicted", evicted).Int("max_entries", t.cfg.MaxEntries).Msg("session table full, evicted oldest entries")
	}
}

// sweepLocked removes expired entries of sh and returns how many; it
// compacts the arena if that is due.
func (t *Table) sweepLocked(sh *shard, nowS uint32) int {
	n := 0
	sh.forEachLocked(func(k []byte, s slot) bool {
		if s.exp <= nowS {
			t.removeLocked(sh, k, s)
			n++
		}
		return true
	})
	sh.compactIfDueLocked()
	return n
}

// removeLocked removes stored key k, whose slot is s, from sh and its
// digest. sh.mu is held for writing.
func (t *Table) removeLocked(sh *shard, k []byte, s slot) {
	bal := uint16(k[0])<<8 | uint16(k[1])
	kh := keyHashBytes(t.names.name(bal), k[2:])
	t.flipLocked(sh, kh, s)
	t.delLocked(sh, kh, k)
	t.count.Add(-1)
}

// Sweep removes every entry expired at now and returns how many. Run calls it
// periodically; callers without Run may call it themselves.
func (t *Table) Sweep(now time.Time) int {
	nowS := unixSec(now)
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += t.sweepLocked(sh, nowS)
		sh.mu.Unlock()
	}
	return n
}

// Touch records that the session key of balancer was used at now. It is
// meant for every request of a pinned session and is cheap: it takes a shard
// read lock and returns unless the entry's expiry needs extending.
//
// Lazy expiry: a write (Set, Touch, Apply) sets expiry to now + SessionTTL +
// slack, where slack is SessionTTL/4. Touch extends the expiry only once
// now + SessionTTL passes it, and then to now + SessionTTL + slack again, and
// replicates the extended entry (same Version, later Expires; peers merge by
// taking the later expiry). So an entry in steady use costs one replicated
// message per SessionTTL/4 (7.5 minutes at the default 30m), not one per
// request, every node holds the same expiry, and a session stays pinned for
// between SessionTTL and 1.25 SessionTTL after its last request, wherever that
// request landed. Touch reports whether a live entry exists.
func (t *Table) Touch(balancer, key string, now time.Time) bool {
	bal, ok := t.names.lookup(balancer)
	if !ok {
		return false
	}
	sh, kh := t.shardOf(balancer, key)
	var buf [128]byte
	k := storeKey(buf[:0], bal, key)
	nowS := unixSec(now)
	need := addSec(nowS, t.ttl)
	sh.mu.RLock()
	s, ok := t.getLocked(sh, kh, k)
	sh.mu.RUnlock()
	if !ok || s.route == 0 || s.exp <= nowS {
		return false
	}
	if need <= s.exp {
		return true
	}
	sh.mu.Lock()
	s, ok = t.getLocked(sh, kh, k)
	if !ok || s.route == 0 || s.exp <= nowS {
		sh.mu.Unlock()
		return false
	}
	if need <= s.exp { // another Touch won the race
		sh.mu.Unlock()
		return true
	}
	t.flipLocked(sh, kh, s)
	s.exp = addSec(need, t.slack)
	t.flipLocked(sh, kh, s)
	t.putLocked(sh, kh, k, s)
	sh.mu.Unlock()
	t.enqueue(pending{key: key, bal: bal, s: s})
	return true
}

// Apply merges entries received from elsewhere (a peer, a Store) into the
// table with Merge, and returns how many changed the table. Entries are not
// replicated further. Invalid entries and entries expired at now are
// skipped. Versions within MaxClockSkew of now advance this node's clock, so
// its next write wins over what it has seen.
func (t *Table) Apply(entries []Entry, now time.Time) int {
	nowS := unixSec(now)
	changed := 0
	var buf [128]byte
	for i := range entries {
		e := &entries[i]
		if !validName(e.Balancer) || !validKey(e.Key) || !validName(e.Origin) ||
			(!e.Deleted && !validName(e.Route)) || (e.Deleted && e.Route != "") {
			continue
		}
		exp := unixSec(e.Expires)
		if exp <= nowS {
			continue
		}
		if !t.clock.observe(e.Version, now, t.cfg.MaxClockSkew) {
			t.sync.skewed.Add(1)
		}
		bal, err1 := t.names.intern(e.Balancer)
		origin, err2 := t.names.intern(e.Origin)
		var rid uint16
		var err3 error
		if !e.Deleted {
			rid, err3 = t.names.intern(e.Route)
		}
		if err := errors.Join(err1, err2, err3); err != nil {
			continue
		}
		sh, kh := t.shardOf(e.Balancer, e.Key)
		k := storeKey(buf[:0], bal, e.Key)
		in := slot{ver: e.Version, exp: exp, route: rid, origin: origin}
		sh.mu.Lock()
		old, had := t.getLocked(sh, kh, k)
		if had && old.exp <= nowS {
			t.removeLocked(sh, k, old)
			had = false
		}
		if !had {
			t.insertLocked(sh, kh, k, in, nowS)
			t.flipLocked(sh, kh, in)
			sh.mu.Unlock()
			changed++
			continue
		}
		oldE := Entry{Route: t.names.name(old.route), Origin: t.names.name(old.origin), Version: old.ver,
			Expires: time.Unix(int64(old.exp), 0), Deleted: old.route == 0}
		m := Merge(oldE, Entry{Route: e.Route, Origin: e.Origin, Version: e.Version, Expires: time.Unix(int64(exp), 0), Deleted: e.Deleted})
		ns := slot{ver: m.Version, exp: unixSec(m.Expires), route: old.route, origin: old.origin}
		if m.Version != old.ver || m.Origin != oldE.Origin || m.Deleted != oldE.Deleted || m.Route != oldE.Route {
			ns.route, ns.origin = rid, origin
		}
		if ns != old {
			t.flipLocked(sh, kh, old)
			t.flipLocked(sh, kh, ns)
			t.putLocked(sh, kh, k, ns)
			changed++
		}
		sh.mu.Unlock()
	}
	return changed
}

// Snapshot calls fn for every entry, live or tombstone, not expired at now,
// until fn returns false. It copies one shard at a time under its read lock
// and calls fn without locks held, so fn may call the table; entries written
// during the walk may or may not be seen.
func (t *Table) Snapshot(now time.Time, fn func(Entry) bool) {
	var batch []Entry
	for i := range t.shards {
		batch = t.appendShard(batch[:0], i, unixSec(now))
		for _, e := range batch {
			if !fn(e) {
				return
			}
		}
	}
}

// appendShard appends the unexpired entries of shard i to dst. Their keys
// are substrings of one string per call, so copying a shard allocates
// twice, not once per entry.
func (t *Table) appendShard(dst []Entry, i int, nowS uint32) []Entry {
	sh := &t.shards[i]
	first := len(dst)
	var keys strings.Builder
	var ends []int
	sh.mu.RLock()
	keys.Grow(len(sh.keys) - sh.dead)
	sh.forEachLocked(func(k []byte, s slot) bool {
		if s.exp > nowS {
			bal := uint16(k[0])<<8 | uint16(k[1])
			dst = append(dst, t.entryOf(t.names.name(bal), "", s))
			keys.Write(k[2:])
			ends = append(ends, keys.Len())
		}
		return true
	})
	sh.mu.RUnlock()
	all, start := keys.String(), 0
	for j, end := range ends {
		dst[first+j].Key = all[start:end]
		start = end
	}
	return dst
}

// Len returns the number of stored entries, tombstones and not yet swept
// expired entries included.
func (t *Table) Len() int { return int(t.count.Load()) }

// pending is a local change waiting to be sent: 40 bytes rather than an
// Entry's 120, since changes may queue by the hundred thousand.
type pending struct {
	key string // the caller's key
	bal uint16
	s   slot
}

func (t *Table) pendingEntry(p *pending) Entry {
	return t.entryOf(t.names.name(p.bal), p.key, p.s)
}

// enqueue queues a local change for the peers. The queue is bounded by
// Config.MaxPending; past it, changes are dropped and every peer gets an
// anti-entropy round instead, which carries them.
func (t *Table) enqueue(p pending) {
	t.outMu.Lock()
	if len(t.out) >= t.cfg.MaxPending {
		t.outOverflow = true
	} else {
		t.out = append(t.out, p)
	}
	t.outMu.Unlock()
	select {
	case t.outKick <- struct{}{}:
	default:
	}
}

// Store is an optional second home for entries, shared beyond this cluster
// (replication/dynamostore implements it on DynamoDB). It is declared here,
// where the table consumes it.
//
// Both methods block and must be safe for concurrent use. Get returns
// ok == false, err == nil for a key the store does not hold; the returned
// entry may be expired or a tombstone (the table checks). Put writes the
// entry if it wins over the stored one by Merge's order or the key is
// absent; a losing Put is not an error.
type Store interface {
	Get(ctx context.Context, balancer, key string) (e Entry, ok bool, err error)
	Put(ctx context.Context, e Entry) error
}

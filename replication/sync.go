package replication

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Peer is another proxy's replication endpoint, as the proxy learns it from
// membership (the peer's NodeName and the Addr it advertises in its node
// metadata).
type Peer struct {
	Name string
	Addr string
}

// maxInbound bounds concurrent inbound connections; maxHelloSize bounds the
// first frame read from a connection not yet authenticated.
const (
	maxInbound   = 1024
	maxHelloSize = 4096
	drainTimeout = time.Second
)

// syncState is the network half of the Table.
type syncState struct {
	ln net.Listener
	kr *keyring

	// mu guards the fields below it. Lock order: never held while taking a
	// shard, member-state or out lock, nor while doing I/O.
	mu         sync.Mutex
	want       map[string]string // peer name → addr, as last given to SetPeers
	wantSet    bool              // SetPeers was called
	setAt      time.Time         // first SetPeers with peers
	peers      map[string]*peer  // running peer loops
	stopping   []*peer           // removed peers whose loops may still run
	inbound    map[net.Conn]struct{}
	authLogged map[string]struct{}
	closed     bool

	peerKick  chan struct{} // cap 1: wakes Run to reconcile peers
	ready     chan struct{}
	readyOnce sync.Once
	running   atomic.Bool
	closeOnce sync.Once
	storeQ    chan []Entry
	round     atomic.Uint64

	sentEntries, recvEntries, resyncs, authFailures atomic.Uint64
	evicted, skewed, storeErrors, storeDropped      atomic.Uint64

	lag, lagAt atomic.Int64 // see observeLag; nanoseconds, and when (unix ns)
}

// peer is the outbound side of one peer: a queue of sealed frames and the
// loop that dials the peer and writes them.
type peer struct {
	name, addr string
	q          chan []byte
	wake       chan struct{} // cap 1
	resync     atomic.Bool   // queue overflowed: drop it, run anti-entropy
	connected  atomic.Bool
	ready      atomic.Bool   // the peer said it is synced
	awaiting   atomic.Uint64 // round sent and not yet answered, or 0

	// mu guards repair and repairMS: what the peer asked us to send.
	mu       sync.Mutex
	repair   []uint16
	repairMS bool

	cancel context.CancelFunc
	done   chan struct{}
}

func (s *syncState) init(kr *keyring) {
	s.kr = kr
	s.want = map[string]string{}
	s.peers = map[string]*peer{}
	s.inbound = map[net.Conn]struct{}{}
	s.authLogged = map[string]struct{}{}
	s.peerKick = make(chan struct{}, 1)
	s.ready = make(chan struct{})
	s.storeQ = make(chan []Entry, 64)
}

// Addr returns the address the sync listener is bound to (with the port
// chosen for port 0), for the proxy to advertise in its membership metadata,
// or nil without Config.Bind.
func (t *Table) Addr() net.Addr {
	if t.sync.ln == nil {
		return nil
	}
	return t.sync.ln.Addr()
}

// SetPeers replaces the set of peers this node pushes to and syncs from: the
// other proxies of the cluster, taken from membership whenever it changes.
// Entries naming this node are ignored. It does not block; Run dials new
// peers and drops removed ones. Call it once the membership join has been
// attempted, even with no peers: an empty list means this node is alone and
// makes it ready at once (see Ready).
func (t *Table) SetPeers(peers []Peer) {
	s := &t.sync
	want := make(map[string]string, len(peers))
	for _, p := range peers {
		if p.Name != "" && p.Name != t.cfg.NodeName && p.Addr != "" {
			want[p.Name] = p.Addr
		}
	}
	s.mu.Lock()
	s.want = want
	s.wantSet = true
	if len(want) > 0 && s.setAt.IsZero() {
		s.setAt = t.cfg.Now()
	}
	s.mu.Unlock()
	if len(want) == 0 {
		t.markReady("no peers")
	}
	select {
	case s.peerKick <- struct{}{}:
	default:
	}
}

// Ready returns a channel closed once the table holds a full copy: after one
// anti-entropy round with a synced peer has completed (every shard that
// differed has been received), or at once when SetPeers says there are no
// peers or there is no listener, or after Config.SyncTimeout with no synced
// peer reachable. The proxy's /healthz answers 503 until then.
func (t *Table) Ready() <-chan struct{} { return t.sync.ready }

// WaitSynced blocks until Ready is closed or ctx is done.
func (t *Table) WaitSynced(ctx context.Context) error {
	select {
	case <-t.sync.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Table) isReady() bool {
	select {
	case <-t.sync.ready:
		return true
	default:
		return false
	}
}

func (t *Table) markReady(reason string) {
	t.sync.readyOnce.Do(func() {
		close(t.sync.ready)
		ev := t.log.Info()
		if reason == "sync timeout" {
			ev = t.log.Warn()
		}
		ev.Str("reason", reason).Int("entries", t.Len()).Msg("session table ready")
	})
}

// Close closes the listener and every connection. Run calls it on return;
// call it only for a table whose Run is never called.
func (t *Table) Close() error {
	s := &t.sync
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for c := range s.inbound {
			c.Close()
		}
		s.mu.Unlock()
		if s.ln != nil {
			err = s.ln.Close()
		}
	})
	return err
}

// Stats are counters for the status page and /metrics.
type Stats struct {
	Entries         int    // stored entries, tombstones included
	Ready           bool   // see Table.Ready
	Peers           int    // peers given to SetPeers
	Connected       int    // peers with an open outbound connection
	SentEntries     uint64 // local changes queued for peers (once per change)
	ReceivedEntries uint64 // entries received from peers
	Resyncs         uint64 // peer queues dropped for an anti-entropy round
	AuthFailures    uint64 // frames rejected for a wrong or missing key
	Evicted         uint64 // entries evicted because the table was full
	SkewedVersions  uint64 // received versions too far ahead of our clock
	StoreErrors     uint64 // failed Store writes
	StoreDropped    uint64 // Store writes dropped because the store lagged
	// Lag is the age, on arrival, of the newest entry of the last batch
	// pushed by a peer (origin write to apply here, clock skew included);
	// LagAt is when it was measured (zero: never).
	Lag   time.Duration
	LagAt time.Time
}

// Stats returns the current counters.
func (t *Table) Stats() Stats {
	s := &t.sync
	st := Stats{
		Entries:         t.Len(),
		Ready:           t.isReady(),
		SentEntries:     s.sentEntries.Load(),
		ReceivedEntries: s.recvEntries.Load(),
		Resyncs:         s.resyncs.Load(),
		AuthFailures:    s.authFailures.Load(),
		Evicted:         s.evicted.Load(),
		SkewedVersions:  s.skewed.Load(),
		StoreErrors:     s.storeErrors.Load(),
		StoreDropped:    s.storeDropped.Load(),
		Lag:             time.Duration(s.lag.Load()),
	}
	if at := s.lagAt.Load(); at != 0 {
		st.LagAt = time.Unix(0, at)
	}
	s.mu.Lock()
	st.Peers = len(s.want)
	for _, p := range s.peers {
		if p.connected.Load() {
			st.Connected++
		}
	}
	s.mu.Unlock()
	return st
}

// Run replicates until ctx is done: it accepts peers' connections, dials the
// peers given to SetPeers, pushes local changes in batches, runs
// anti-entropy, sweeps expired entries, persists member states received from
// peers and writes through to the Store. On cancellation it sends what is
// queued (for up to a second), closes every connection and returns nil. Call
// it once.
func (t *Table) Run(ctx context.Context) error {
	s := &t.sync
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("replication: Run called twice")
	}
	defer t.Close()
	if s.ln == nil {
		t.markReady("no listener")
	}
	if s.kr == nil && s.ln != nil {
		t.log.Warn().Msg("replication without a cluster key: frames are neither encrypted nor authenticated")
	}
	ev := t.log.Info()
	if a := t.Addr(); a != nil {
		ev = ev.Str("addr", a.String())
	}
	ev.Msg("replication started")

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	if s.ln != nil {
		wg.Go(func() { t.acceptLoop(runCtx) })
	}
	if t.cfg.Store != nil {
		wg.Go(func() { t.storeLoop(runCtx) })
	}
	wg.Go(func() { t.housekeeping(runCtx) })
	flushed := make(chan struct{})
	go func() { // owned by Run, which waits for it below
		defer close(flushed)
		t.flushLoop(runCtx)
	}()

	for {
		select {
		case <-s.peerKick:
			t.reconcilePeers()
			continue
		case <-runCtx.Done():
		}
		break
	}
	// Shutdown: stop accepting, send what is queued, then close peers.
	if s.ln != nil {
		s.ln.Close()
	}
	<-flushed
	s.mu.Lock()
	s.closed = true
	all := slices.Collect(func(yield func(*peer) bool) {
		for _, p := range s.peers {
			if !yield(p) {
				return
			}
		}
	})
	all = append(all, s.stopping...)
	s.peers, s.stopping = map[string]*peer{}, nil
	s.mu.Unlock()
	for _, p := range all {
		p.cancel()
	}
	for _, p := range all {
		<-p.done
	}
	t.Close()
	wg.Wait()
	t.log.Info().Msg("replication stopped")
	return nil
}

// reconcilePeers starts loops for new peers and stops removed ones.
func (t *Table) reconcilePeers() {
	s := &t.sync
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	// Forget stopped loops.
	s.stopping = slices.DeleteFunc(s.stopping, func(p *peer) bool {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	})
	for name, p := range s.peers {
		if addr, ok := s.want[name]; !ok || addr != p.addr {
			p.cancel()
			s.stopping = append(s.stopping, p)
			delete(s.peers, name)
			t.log.Info().Str("peer", name).Msg("replication peer removed")
		}
	}
	for name, addr := range s.want {
		if _, ok := s.peers[name]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		p := &peer{
			name: name, addr: addr,
			q:      make(chan []byte, t.cfg.PeerQueueFrames),
			wake:   make(chan struct{}, 1),
			cancel: cancel,
			done:   make(chan struct{}),
		}
		s.peers[name] = p
		go func() { // owned by Run through s.peers / s.stopping
			defer close(p.done)
			t.peerLoop(ctx, p)
		}()
	}
}

func (t *Table) peerList() []*peer {
	s := &t.sync
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := make([]*peer, 0, len(s.peers))
	for _, p := range s.peers {
		ps = append(ps, p)
	}
	return ps
}

func (p *peer) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// requestResync drops the peer's backlog in favour of an anti-entropy round.
func (p *peer) requestResync() {
	p.resync.Store(true)
	p.kick()
}

// flushLoop sends local changes: it wakes on the first change, waits
// Config.Coalesce for more, and flushes them as one batch. On ctx done it
// flushes once more and returns.
func (t *Table) flushLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			t.flush()
			return
		case <-t.outKick:
		}
		timer.Reset(t.cfg.Coalesce)
		select {
		case <-ctx.Done():
			timer.Stop()
			t.flush()
			return
		case <-timer.C:
		}
		t.flush()
	}
}

// flush encodes the pending changes once, seals them once, and offers the
// frames to every peer's queue; a full queue turns into a resync.
func (t *Table) flush() {
	t.outMu.Lock()
	ps, ms, over := t.out, t.outMS, t.outOverflow
	t.out, t.outMS, t.outOverflow = t.outSpare[:0], nil, false
	t.outSpare = nil
	t.outMu.Unlock()
	if len(ps) == 0 && len(ms) == 0 && !over {
		t.returnSpare(ps)
		return
	}
	kr := t.sync.kr
	var frames [][]byte
	var stored []Entry
	batch := make([]Entry, 0, min(len(ps), t.cfg.BatchEntries))
	for i := 0; i < len(ps); i += t.cfg.BatchEntries {
		batch = batch[:0]
		for j := i; j < min(i+t.cfg.BatchEntries, len(ps)); j++ {
			batch = append(batch, t.pendingEntry(&ps[j]))
		}
		frames = append(frames, kr.seal(encodeEntries(batch)))
		if t.cfg.Store != nil {
			stored = append(stored, batch...)
		}
	}
	n := len(ps)
	t.returnSpare(ps)
	if len(ms) > 0 {
		frames = append(frames, kr.seal(encodeMemberStates(ms)))
	}
	t.sync.sentEntries.Add(uint64(n))
	for _, p := range t.peerList() {
		if over {
			p.requestResync()
		}
	offer:
		for _, f := range frames {
			select {
			case p.q <- f:
			default:
				p.requestResync()
				break offer
			}
		}
	}
	if len(stored) > 0 {
		select {
		case t.sync.storeQ <- stored:
		default:
			t.sync.storeDropped.Add(uint64(len(stored)))
		}
	}
}

// returnSpare keeps ps for the next batch unless it grew huge.
func (t *Table) returnSpare(ps []pending) {
	if cap(ps) > 1<<16 {
		return
	}
	clear(ps)
	t.outMu.Lock()
	t.outSpare = ps[:0]
	t.outMu.Unlock()
}

// housekeeping sweeps expired entries, persists member states received from
// peers, and ends the wait for a sync that cannot happen.
func (t *Table) housekeeping(ctx context.Context) {
	tick := time.NewTicker(min(t.cfg.SyncTimeout/4, time.Second))
	defer tick.Stop()
	sweepEvery := min(max(t.cfg.SessionTTL/8, time.Second), time.Minute)
	lastSweep := t.cfg.Now()
	persist := func() {
		if err := t.ms.persist(); err != nil {
			t.log.Error().Err(err).Msg("persist member states")
		}
	}
	for {
		select {
		case <-ctx.Done():
			select {
			case <-t.ms.dirty:
				persist()
			default:
			}
			return
		case <-t.ms.dirty:
			persist()
		case <-tick.C:
			now := t.cfg.Now()
			if !t.isReady() {
				t.checkSyncTimeout(now)
			}
			if now.Sub(lastSweep) >= sweepEvery {
				lastSweep = now
				if n := t.Sweep(now); n > 0 {
					t.log.Debug().Int("expired", n).Msg("swept expired sessions")
				}
			}
		}
	}
}

// checkSyncTimeout makes the table ready if SyncTimeout has passed since
// peers were first given and no synced peer is connected (one that is may be
// sending a large table; it is waited for).
func (t *Table) checkSyncTimeout(now time.Time) {
	s := &t.sync
	s.mu.Lock()
	at := s.setAt
	waiting := false
	for _, p := range s.peers {
		if p.connected.Load() && p.ready.Load() {
			waiting = true
		}
	}
	s.mu.Unlock()
	if at.IsZero() || now.Sub(at) < t.cfg.SyncTimeout || waiting {
		return
	}
	t.markReady("sync timeout")
}

// checkAllStarting makes the table ready if every peer is connected and
// none is synced: the whole cluster is starting, so no node holds a copy to
// wait for. (A peer that is not connected may hold one: then SyncTimeout
// decides.)
func (t *Table) checkAllStarting() {
	s := &t.sync
	s.mu.Lock()
	all := len(s.want) > 0
	for name := range s.want {
		p := s.peers[name]
		if p == nil || !p.connected.Load() || p.ready.Load() {
			all = false
			break
		}
	}
	s.mu.Unlock()
	if all {
		t.markReady("all peers starting")
	}
}

// storeLoop writes local changes through to the Store.
func (t *Table) storeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case es := <-t.sync.storeQ:
			var firstErr error
			failed := 0
			for _, e := range es {
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := t.cfg.Store.Put(pctx, e)
				cancel()
				if err != nil {
					failed++
					firstErr = cmpErr(firstErr, err)
				}
			}
			if failed > 0 {
				t.sync.storeErrors.Add(uint64(failed))
				t.log.Error().Err(firstErr).Int("failed", failed).Int("batch", len(es)).Msg("write sessions to store")
			}
		}
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Fetch is Get with a fallback to the Store: on a local miss it reads the
// Store and, if it holds a live entry, applies it locally and returns its
// route. Without a Store it is Get. It blocks on the Store; call it on a
// miss, not instead of Get.
func (t *Table) Fetch(ctx context.Context, balancer, key string, now time.Time) (route string, ok bool, err error) {
	if r, ok := t.Get(balancer, key, now); ok || t.cfg.Store == nil {
		return r, ok, nil
	}
	e, ok, err := t.cfg.Store.Get(ctx, balancer, key)
	if err != nil || !ok {
		return "", false, err
	}
	if e.Balancer != balancer || e.Key != key {
		return "", false, nil
	}
	t.Apply([]Entry{e}, now)
	r, ok := t.Get(balancer, key, now)
	return r, ok, nil
}

// backoff returns a random delay in [d/2, d).
func backoff(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

package replication

import (
	"sync"
	"time"
)

// Peer statistics: every StatsInterval each node sends its peers a small
// snapshot of its own counters, over the same authenticated channel as the
// session stream, so that any node can show the whole cluster's traffic.
// The snapshot is opaque here (the proxy encodes its per-member request
// counts); each peer's newest one is kept with the time it arrived.

// MaxStatsBytes bounds one node's snapshot; a larger one is not sent.
const MaxStatsBytes = 256 << 10

// maxPeerStats bounds the snapshots kept (one per peer name), and
// statsRetention how long one is kept after it arrived.
const (
	maxPeerStats   = 256
	statsRetention = time.Minute
)

type peerStats struct {
	// sendMu guards what this node sends: the source, and the last frame
	// built from it and when (one snapshot serves every peer loop's tick
	// of one interval).
	sendMu  sync.Mutex
	source  func() []byte
	frame   []byte
	frameAt time.Time

	// mu guards what the peers sent.
	mu   sync.Mutex
	last map[string]peerSnapshot
}

type peerSnapshot struct {
	data []byte
	at   time.Time
}

// SetStatsSource sets what this node sends its peers every StatsInterval:
// f's result, at most MaxStatsBytes. nil stops sending.
func (t *Table) SetStatsSource(f func() []byte) {
	s := &t.stats
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.source, s.frame = f, nil
}

// statsFrame returns the frame to send now, or nil. The peer loops tick
// separately; a frame younger than half an interval is reused, so the
// source runs about once per interval however many peers there are. The
// frame is shared: callers only read it.
func (t *Table) statsFrame() []byte {
	s := &t.stats
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.source == nil {
		return nil
	}
	now := time.Now()
	if s.frame != nil && now.Sub(s.frameAt) < t.cfg.StatsInterval/2 {
		return s.frame
	}
	s.frame, s.frameAt = nil, now
	if b := s.source(); len(b) > 0 && len(b) <= MaxStatsBytes {
		s.frame = encodeStats(b)
	}
	return s.frame
}

// storeStats keeps the snapshot peer sent.
func (t *Table) storeStats(peer string, data []byte, now time.Time) {
	s := &t.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = make(map[string]peerSnapshot)
	}
	if _, ok := s.last[peer]; !ok && len(s.last) >= maxPeerStats {
		return
	}
	s.last[peer] = peerSnapshot{data: data, at: now}
}

// PeerStats returns, by node name, the newest snapshot each peer sent
// within maxAge; a peer that stopped sending (gone, partitioned) drops out
// after maxAge. The slices must not be modified.
func (t *Table) PeerStats(maxAge time.Duration) map[string][]byte {
	now := t.cfg.Now()
	s := &t.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte, len(s.last))
	for name, p := range s.last {
		switch age := now.Sub(p.at); {
		case age > max(maxAge, statsRetention):
			delete(s.last, name)
		case age <= maxAge:
			out[name] = p.data
		}
	}
	return out
}

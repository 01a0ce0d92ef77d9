package replication

import (
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Config configures a Table. Zero values take the defaults of DefaultConfig,
// except NodeName, which is required.
type Config struct {
	// NodeName is this proxy's cluster member name (the memberlist node
	// name). It breaks ties between equal Versions, so it must be unique in
	// the cluster and stable across restarts. Required; at most MaxNameLen
	// bytes.
	NodeName string

	// Bind is the TCP address of the sync listener, e.g. "10.0.1.5:7947" or
	// "127.0.0.1:0" (port 0 picks a free port; Addr reports it). Empty: no
	// listener; the table neither receives from peers nor can be synced
	// into, which suits a single proxy and unit tests.
	Bind string

	// Keys are the cluster keys (the raw gossip keys, 16, 24 or 32 bytes).
	// Keys[0] encrypts what this node sends; every key is tried on receipt,
	// so keys rotate as in memberlist: add the new key last everywhere, move
	// it first everywhere, then drop the old one. Each is stretched with
	// HKDF-SHA256 under a label of its own, so the replication key differs
	// from the gossip key. Empty: frames travel in the clear, unauthenticated
	// (a warning is logged), and a node with keys rejects them.
	Keys [][]byte

	// Label is the cluster name, bound into every frame as AEAD additional
	// data so that two clusters sharing a key do not mix. Default "".
	Label string

	// SessionTTL is how long an entry lives after its last use (the Caddyfile
	// session_ttl). Default 30m; see Table.Touch for the exact window.
	// Resolution is one second.
	SessionTTL time.Duration

	// MaxEntries bounds the entries held, tombstones included; past it the
	// entries with the oldest expiry are evicted (and a warning logged).
	// Default 2,000,000 (about 200 MB at the measured bytes per entry).
	// Values above 2^30 (1,073,741,824) count as 2^30.
	MaxEntries int

	// StatePath is the file that keeps the member states (SetMemberState)
	// across restarts, written with write, fsync, rename. Empty: member states
	// live in memory only (and come back from peers).
	StatePath string

	// Logger receives the table's logs. The zero value is disabled.
	Logger zerolog.Logger

	// Store, if set, receives every local write (asynchronously, see Run) and
	// answers Fetch on a local miss.
	Store Store

	// Now is the clock for Run's timers and Apply of received entries.
	// Default time.Now. Calls that take a now argument use that instead.
	Now func() time.Time

	// Coalesce is how long the sender waits after the first local change to
	// gather more into one batch. Default 2ms: well under the 50ms lag budget,
	// long enough to batch bursts.
	Coalesce time.Duration

	// BatchEntries is the most entries in one frame. Default 1024 (about 64
	// KB per frame with 40-byte session ids).
	BatchEntries int

	// MaxPending bounds local changes waiting to be sent. Past it, changes
	// are dropped from the push stream and carried by an anti-entropy round
	// instead. Default 1<<20.
	MaxPending int

	// PeerQueueFrames bounds the frames queued for one peer. A peer that
	// falls this far behind gets its queue dropped and an anti-entropy round
	// (a resync of the shards that differ) instead of unbounded memory.
	// Default 256.
	PeerQueueFrames int

	// AntiEntropyInterval is how often each node sends every peer its shard
	// digests; shards that differ are exchanged in full. Also run at every
	// (re)connect. Default 10s.
	AntiEntropyInterval time.Duration

	// StatsInterval is how often each node sends every peer its counters
	// snapshot (SetStatsSource). Default 2s.
	StatsInterval time.Duration

	// SyncTimeout is how long a starting node waits for a full copy when no
	// ready peer can be reached at all before it reports ready anyway (with a
	// warning): the first node of a cluster, or the whole cluster restarting
	// together. Default 10s.
	SyncTimeout time.Duration

	// DialTimeout bounds connecting and handshaking with a peer. Default 2s.
	DialTimeout time.Duration

	// WriteTimeout bounds each frame write; a peer that stops reading is
	// disconnected and resynced on reconnect. Default 10s.
	WriteTimeout time.Duration

	// MaxClockSkew is how far ahead of this node's clock a received Version
	// may be and still advance it. Default 1m.
	MaxClockSkew time.Duration

	// MaxFrameSize bounds a frame on the wire, in bytes. Default 16 MiB.
	MaxFrameSize int
}

// DefaultConfig returns the defaults New applies to zero fields.
func DefaultConfig() Config {
	return Config{
		SessionTTL:          30 * time.Minute, // mod_jk / Tomcat default session timeout
		MaxEntries:          2_000_000,
		Now:                 time.Now,
		Coalesce:            2 * time.Millisecond,
		BatchEntries:        1024,
		MaxPending:          1 << 20,
		PeerQueueFrames:     256,
		AntiEntropyInterval: 10 * time.Second,
		StatsInterval:       2 * time.Second,
		SyncTimeout:         10 * time.Second,
		DialTimeout:         2 * time.Second,
		WriteTimeout:        10 * time.Second,
		MaxClockSkew:        time.Minute,
		MaxFrameSize:        16 << 20,
	}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	if c.Now == nil {
		c.Now = d.Now
	}
	orDefault(&c.SessionTTL, d.SessionTTL)
	orDefault(&c.MaxEntries, d.MaxEntries)
	orDefault(&c.Coalesce, d.Coalesce)
	orDefault(&c.BatchEntries, d.BatchEntries)
	orDefault(&c.MaxPending, d.MaxPending)
	orDefault(&c.PeerQueueFrames, d.PeerQueueFrames)
	orDefault(&c.AntiEntropyInterval, d.AntiEntropyInterval)
	orDefault(&c.StatsInterval, d.StatsInterval)
	orDefault(&c.SyncTimeout, d.SyncTimeout)
	orDefault(&c.DialTimeout, d.DialTimeout)
	orDefault(&c.WriteTimeout, d.WriteTimeout)
	orDefault(&c.MaxClockSkew, d.MaxClockSkew)
	orDefault(&c.MaxFrameSize, d.MaxFrameSize)
}

// orDefault sets *v to def when it is zero or negative (unset).
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

func (c *Config) validate() error {
	if !validName(c.NodeName) {
		return fmt.Errorf("replication config: node name %q: must be 1 to %d bytes", c.NodeName, MaxNameLen)
	}
	for i, k := range c.Keys {
		switch len(k) {
		case 16, 24, 32:
		default:
			return fmt.Errorf("replication config: key %d: %d bytes, want 16, 24 or 32", i+1, len(k))
		}
	}
	if len(c.Label) > MaxNameLen {
		return errors.New("replication config: label longer than 255 bytes")
	}
	if c.MaxFrameSize < 64<<10 {
		return errors.New("replication config: max frame size below 64 KiB")
	}
	return nil
}

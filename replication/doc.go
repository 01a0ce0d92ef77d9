// Package replication is the session table shared by Tether's proxies: which
// member each session is pinned to, per balancer, when that cannot be read
// from the session id itself, plus the operators' member states. Every proxy
// holds a full copy, serves reads from memory, and replicates its writes to
// the other proxies over a channel of its own.
//
// # What it owns, and what it does not
//
// It owns the entries (Entry: balancer, session key, route, origin node,
// Version, expiry, tombstone), their merge rule (Merge), the lazy expiry rule
// (Table.Touch), the memory bound, the wire format and its encryption, the
// sync protocol with peers (push, full copy at start, anti-entropy), the
// member-state map and its file, and the optional write-through Store
// (replication/dynamostore).
//
// It does not decide routes (routing does: rendezvous hashing, failover
// order), does not find peers (membership does; the proxy passes them to
// SetPeers), and does not interpret member states or session ids. It imports
// no other Tether package.
//
// # How the proxy uses it
//
//   - Failover pin (docs/routing.md): when routing fails a
//     session over and the new member serves it, the proxy calls
//     Set(balancer, sessionID, newRoute, now), within a per-balancer rate
//     of new pins (proxy/pins.go).
//     Before routing by a session id's own route, it calls Get: a pin wins,
//     so the session stays on its new member after the old one returns,
//     until the id changes (Delete the old id, or let it expire) or the
//     entry expires. Every proxy computes the same failover choice, so
//     concurrent pins from several proxies agree; if they ever differ, Merge
//     picks one everywhere.
//   - sticky learn: Set when the backend's Set-Cookie creates a session, Get
//     on later requests; Touch on each hit keeps the entry alive.
//   - Member state: SetMemberState from the admin API; MemberStates and
//     MemberStatesChanged to rebuild routing tables.
//   - Readiness: /healthz answers 503 until Ready is closed.
//   - Cluster counters: SetStatsSource gives the proxy's own per-member
//     counters, sent to every peer each StatsInterval on the same
//     authenticated connections; PeerStats returns what the peers sent, so
//     any proxy's status page can show the cluster's totals.
//   - Peers: the proxy advertises Addr in its membership metadata and calls
//     SetPeers with the other proxies' names and addresses whenever
//     membership publishes a new view.
//
// # Why its own channel, not memberlist broadcasts
//
// memberlist is for membership. Its user broadcasts ride in UDP packets of
// about 1400 bytes shared with membership gossip and are retransmitted only
// a few times by the originator: with 5 to 10 nodes they did not reach all
// nodes within 20 s in most of our runs, and an oversized message is
// silently never sent.
// Its push/pull state, the only full-state path, is capped at 20 MiB and
// ships the whole blob on every exchange, while a million sessions take
// about 60 MB on the wire. A session stream needs ordered, reliable,
// flow-controlled delivery, full copies of any size and per-peer
// backpressure: a TCP connection per peer, like HAProxy's peers protocol and
// NGINX Plus zone_sync, but with peers found
// dynamically through membership rather than listed statically.
//
// # The channel
//
// Each proxy listens on Config.Bind and dials every peer; the dialing side
// pushes its own changes on its connection, and the accepting side answers
// that connection's anti-entropy digests on the same connection. So each
// pair of proxies has two connections, one per direction of push.
//
//   - Frames: a 4-byte length, an envelope byte, then AES-256-GCM of the
//     plaintext (version byte, type, payload; see wire.go). The key is
//     derived from each gossip key with HKDF-SHA256 and the cluster label is
//     bound as additional data. The first key seals, any opens (rotation as
//     in memberlist). A frame that does not open is counted and logged once
//     per peer, and its connection closed. Lengths and counts are checked
//     against the bytes present before anything is allocated; the first
//     frame of an unauthenticated connection may not exceed 4 KiB. FuzzDecode
//     covers the reader, keyring and decoder.
//   - Push: local writes are queued and, Config.Coalesce (2 ms) after the
//     first, encoded and sealed once per batch of up to 1024 entries, and
//     offered to every peer's bounded queue. Received entries are not
//     forwarded: every node pushes only its own writes to every peer (full
//     mesh, as HAProxy and zone_sync do).
//   - Backpressure: a peer whose queue (Config.PeerQueueFrames) overflows,
//     because it is slow or disconnected, has its queue dropped and gets an
//     anti-entropy round instead, which sends it only the shards that
//     differ. Memory per peer is bounded by the queue, never by the peer's
//     speed.
//   - Anti-entropy: at every connect and every AntiEntropyInterval (10 s),
//     the dialer sends a digest per shard (256 shards, xor of a hash per
//     entry); the other side sends its entries of every shard that differs,
//     then the list of those shards, and the dialer sends its own. Digests
//     leave out entries written in the last few seconds (still in the push
//     stream) and entries about to expire (swept at different moments), so
//     a busy cluster does not resend shards that are merely in flight; see
//     digest.go. The first round of each connection and the round after an
//     overflow compare everything. A change lost in the push stream is
//     repaired within AntiEntropyInterval plus 3 s; a healed partition, at
//     reconnection.
//   - Full copy before ready: a node that starts asks for everything (its
//     digest window covers every entry); a synced peer answers with every
//     shard it holds, then the reply; that reply makes the node ready. A
//     node that is not ready answers digests with nothing, so a starting
//     cluster does not swap half tables. If every peer is connected and
//     none is synced (the whole cluster is starting) the node is ready at
//     once; if no synced peer can be reached, after SyncTimeout.
//
// # Consistency model
//
// Eventually consistent and available under partition (AP), like HAProxy
// peers and zone_sync, with one difference: conflicts are resolved by a
// deterministic merge, not by arrival order. Each entry carries a hybrid
// logical clock Version (wall milliseconds and a logical counter) and its
// origin node; Merge keeps the higher Version, then the greater node name,
// and the later expiry. Merge is a join (commutative, associative,
// idempotent), so replicas that have received the same writes hold the same
// table whatever the order. The HLC guarantees that a write made after
// seeing another wins over it, whatever the wall clocks say (received
// versions up to MaxClockSkew ahead advance the local clock). Deletes are
// tombstones that live as long as the entry could have. Reads never wait on
// the network: a proxy that has not yet received a pin routes as if there
// were none, which for a failover pin gives the same answer anyway (every
// proxy computes the same rendezvous choice).
//
// Expiry is lazy (Table.Touch): each entry expires SessionTTL plus a quarter
// after its last refresh; a refresh is written and replicated only when less
// than SessionTTL remains, so at most once per SessionTTL/4 per entry, and
// every node holds the same expiry. An entry thus lives between SessionTTL
// and 1.25 SessionTTL after its last request, on every node.
//
// # Memory
//
// Balancer, route and node names are interned as 16-bit ids. A shard holds
// no pointers, so the garbage collector never walks its entries: an entry is
// a 32-byte map slot (its key's 64-bit placement hash, its 16-byte state,
// and where its key is) and its key (2-byte balancer id and the session key)
// in the shard's byte arena. Every hit is checked against the full key, and
// keys whose hash collides are indexed by a hash keyed per process
// (store.go). Measured: about 128 bytes per entry with 40-byte Tomcat
// session ids, keys included (BenchmarkMemoryPerEntry), and a table of
// 1,000,000 entries is about 5,000 heap objects, not 1,000,000
// (BenchmarkScaleSessionTableGC). MaxEntries bounds the table; a full shard
// evicts expired entries, then the sixteenth with the oldest expiry.
//
// # Concurrency
//
// A Table is safe for concurrent use. The table is 256 shards, each a map
// behind a sync.RWMutex; Get and Touch take one read lock and do not
// allocate; writes take one shard lock, never two, then the short outgoing
// queue lock. The name interner is read lock-free (immutable snapshots behind
// atomic pointers). Run owns every goroutine: the accept loop and one per
// inbound connection, one loop per peer (plus its reader), the flusher, the
// housekeeping loop (sweep, member-state file, sync timeout) and the Store
// writer. All stop when Run's context is cancelled; Run first flushes and
// drains queued changes for up to a second. Logs never contain session keys:
// they name peers and count entries.
package replication

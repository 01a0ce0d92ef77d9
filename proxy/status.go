package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tether-proxy/tether/proxy/certs"
	"github.com/tether-proxy/tether/routing"
)

// ResponseClasses counts a member's answers by status class, plus the
// attempts that got no answer (refused, reset, timed out).
type ResponseClasses struct {
	Informational uint64 `json:"1xx"`
	Success       uint64 `json:"2xx"`
	Redirect      uint64 `json:"3xx"`
	ClientError   uint64 `json:"4xx"`
	ServerError   uint64 `json:"5xx"`
	Transport     uint64 `json:"transport"`
}

// LatencyStatus is a member's time to response headers: the number of
// answers and percentiles estimated from its histogram, in milliseconds.
type LatencyStatus struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	// Sum and Buckets are the histogram itself, for /metrics: the count in
	// each bucket of LatencyBounds (not cumulative), the last one unbounded.
	Sum     time.Duration `json:"-"`
	Buckets []uint64      `json:"-"`
}

// FailoverEvent is one request that left its member: a session whose
// member was unusable (Reason is the routing reason: redirect, domain,
// failover) or a failed attempt retried elsewhere (Reason "retry: ...").
// It names members only, never the session.
type FailoverEvent struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
}

// CertStatus is one certificate this node serves.
type CertStatus = certs.Certificate

// SessionsStatus is the replicated session table as this node sees it.
type SessionsStatus struct {
	Entries int `json:"entries"`
	// LagMs is the age on arrival of the newest entry of the last batch
	// received; absent until this node has received one. Entry versions
	// carry milliseconds, so values under 1 ms mean "within the
	// millisecond", not a measurement.
	LagMs *float64 `json:"lag_ms,omitempty"`
	// Sync is the replication channel, when the table reports it: whether
	// this node holds a full copy, and its peers (connected of known).
	Sync *SyncStatus `json:"sync,omitempty"`
}

// SyncStatus is the state of the session table's channel to the other
// proxies.
type SyncStatus struct {
	Ready        bool   `json:"ready"`
	Peers        int    `json:"peers"`
	Connected    int    `json:"connected"`
	AuthFailures uint64 `json:"auth_failures"`
}

// syncReporter is implemented by SessionStats that know their channel.
type syncReporter interface{ Sync() SyncStatus }

// SessionStats is what the admin API reads from session replication: the
// sessions pinned to each member, the table size and the replication lag.
// Without Options.Sessions or SetSessionStats the status page shows "n/a"
// and the replication metrics are absent. Implementations must be safe for
// concurrent use and must not block: they are called on every status
// request and scrape.
type SessionStats interface {
	// Pinned returns the number of live sessions of balancer whose route
	// is the member route.
	Pinned(balancer, route string) int
	// Entries is the number of entries in the replicated table.
	Entries() int
	// Lag is how far this node is behind its peers: the age on arrival of
	// the newest entry of the last batch received; negative until a batch
	// has arrived.
	Lag() time.Duration
}

// sessionStatsBox lets SessionStats hold an interface in an atomic.Pointer.
type sessionStatsBox struct{ SessionStats }

// SetSessionStats makes Status (and so the status page, /api/status and
// /metrics) report sessions from st instead of Options.Sessions. It may be
// called at any time.
func (s *Server) SetSessionStats(st SessionStats) {
	s.stats.Store(&sessionStatsBox{st})
}

func (s *Server) sessionStats() SessionStats {
	if b := s.stats.Load(); b != nil {
		return b.SessionStats
	}
	return nil
}

// observe counts one answer of the member. It is on the request path: one
// comparison, two atomic adds and the histogram's scan.
func (m *member) observe(code int, d time.Duration) {
	if c := code / 100; c >= 1 && c <= 5 {
		m.responses[c].Add(1)
	}
	m.latency.Observe(d)
}

func (m *member) responseClasses() ResponseClasses {
	return ResponseClasses{
		Informational: m.responses[1].Load(),
		Success:       m.responses[2].Load(),
		Redirect:      m.responses[3].Load(),
		ClientError:   m.responses[4].Load(),
		ServerError:   m.responses[5].Load(),
		Transport:     m.responses[0].Load(),
	}
}

func (m *member) latencyStatus() LatencyStatus {
	s := m.latency.Snapshot()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return LatencyStatus{Count: s.count, P50: ms(s.Quantile(0.5)), P90: ms(s.Quantile(0.9)), P99: ms(s.Quantile(0.99)),
		Sum: s.sum, Buckets: s.counts[:]}
}

// failoverLogSize is how many recent failovers a balancer keeps.
const failoverLogSize = 32

// failoverLog is a ring of a balancer's most recent failovers. Failovers
// are rare next to requests, so a mutex is enough; the write copies a
// small struct and allocates nothing.
type failoverLog struct {
	mu   sync.Mutex
	n    uint64 // events ever added; the next goes to n % failoverLogSize
	ring [failoverLogSize]FailoverEvent
}

func (l *failoverLog) add(e FailoverEvent) {
	l.mu.Lock()
	l.ring[l.n%failoverLogSize] = e
	l.n++
	l.mu.Unlock()
}

// list returns the kept events, newest first.
func (l *failoverLog) list() []FailoverEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := min(l.n, failoverLogSize)
	out := make([]FailoverEvent, 0, k)
	for i := uint64(1); i <= k; i++ {
		out = append(out, l.ring[(l.n-i)%failoverLogSize])
	}
	return out
}

// Certificates lists the certificates this node holds for its https
// sites, soonest expiry first (see certs.Manager.Certificates).
func (s *Server) Certificates() []CertStatus { return s.tls.Certificates() }

// InternalRoot returns the internal CA's root certificate (PEM) and, with
// file storage, the file that holds it (see certs.Manager.InternalRoot).
func (s *Server) InternalRoot(ctx context.Context) (pemBytes []byte, path string, err error) {
	return s.tls.InternalRoot(ctx)
}

// Status is the read model of a running Server: everything the admin API
// shows (GET /api/status is its JSON, the status page renders it, /metrics
// is built from it), read once per request. Counters are this proxy's;
// MemberStatus.Cluster holds the cluster's sums.
type Status struct {
	Node         NodeStatus       `json:"node"`
	Cluster      *ClusterStatus   `json:"cluster,omitempty"`
	Balancers    []BalancerStatus `json:"balancers"`
	Certificates []CertStatus     `json:"certificates,omitempty"`
	// Sessions is the replicated session table; nil until replication
	// reports through SetSessionStats.
	Sessions *SessionsStatus `json:"sessions,omitempty"`
}

// ClusterStatus is the cluster as this node sees it.
type ClusterStatus struct {
	Name  string `json:"name"`
	Self  string `json:"self"`
	Epoch uint64 `json:"epoch"`
	// Members are the live members, sorted by name.
	Members []ClusterMemberStatus `json:"members"`
	// Gone are the members that left or died in the last 10 minutes, most
	// recently seen first. They are kept apart from Members so that
	// Members still lists only live ones.
	Gone []ClusterMemberStatus `json:"gone,omitempty"`
	// ConfigMismatches are the ways peer proxies' balancers differ from
	// this node's (names, configured members), sorted by peer and balancer;
	// empty when they agree. See clustercheck.go.
	ConfigMismatches []ConfigMismatch `json:"config_mismatches"`
}

// ClusterMemberStatus is one cluster member. A gone member keeps the
// address and metadata it had when last seen, with Healthy false.
type ClusterMemberStatus struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Role    string `json:"role"`
	Service string `json:"service,omitempty"`
	Route   string `json:"route,omitempty"`
	URL     string `json:"url,omitempty"`
	State   string `json:"state"`
	Healthy bool   `json:"healthy"`
	Version string `json:"version,omitempty"`
	// Status is "alive" for a member in this node's membership view and
	// "gone" for one that left it (State is the member's administrative
	// state, as it last advertised it).
	Status string `json:"status"`
	// FirstSeen is when this node saw the member join (or, for members
	// already there, when this node first looked); it restarts when a gone
	// member comes back.
	FirstSeen time.Time `json:"first_seen"`
	// LastSeen is when this node last saw the member alive: now for a live
	// member, and for a gone one when this node found it gone.
	LastSeen time.Time `json:"last_seen"`
}

// NodeStatus describes this Tether process.
type NodeStatus struct {
	Name     string    `json:"name,omitempty"` // the cluster member name; "" without a cluster
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	Draining bool      `json:"draining"`
}

// BalancerStatus is one balancer and its members.
type BalancerStatus struct {
	Name      string         `json:"name"`
	Policy    string         `json:"policy"`
	Sticky    string         `json:"sticky"`
	Force     bool           `json:"sticky_force"`
	Failovers uint64         `json:"failovers"`
	Retries   uint64         `json:"retries"`
	NoMember  uint64         `json:"no_member"`
	Members   []MemberStatus `json:"members"`
	// RecentFailovers are the last failovers and retries, newest first.
	RecentFailovers []FailoverEvent `json:"recent_failovers"`
	// CounterProxies is how many proxies' counters the members' Cluster
	// sums hold (this one included); 0 when none but this one's.
	CounterProxies int `json:"counter_proxies,omitempty"`
	// PinsRefused counts failed-over sessions left without a failover pin
	// because the balancer's pin bucket was empty (see pins.go).
	PinsRefused uint64 `json:"pins_refused"`

	// Issue 15. RetriesRefused counts retries the retry budget refused
	// (the client got the failed attempt's answer); RetryBudget is the
	// budget's window now, nil without retry_budget. Ejections counts
	// outlier ejections, EjectionsKept outliers left in rotation because
	// max_ejection was reached.
	RetriesRefused uint64             `json:"retries_refused"`
	RetryBudget    *RetryBudgetStatus `json:"retry_budget,omitempty"`
	Ejections      uint64             `json:"ejections"`
	EjectionsKept  uint64             `json:"ejections_kept"`
	// Queue is the balancer's queue of requests waiting for a member at
	// max_conns; nil when no member has a limit.
	Queue *QueueStatus `json:"queue,omitempty"`
}

// RetryBudgetStatus is a balancer's retry budget over its current window:
// the requests it received and the retries it sent, and how many retries
// the window allows (Percent of Requests plus the floor).
type RetryBudgetStatus struct {
	Percent  int     `json:"percent"`
	Window   string  `json:"window"`
	Requests int64   `json:"requests"`
	Retries  int64   `json:"retries"`
	Allowed  float64 `json:"allowed"`
}

// QueueStatus is a balancer's queue (queue.go): how many wait now, and
// how many waited, gave up after queue_timeout, or were turned away at
// max_queue since the start.
type QueueStatus struct {
	Waiting  int64   `json:"waiting"`
	Max      int     `json:"max_queue"`
	Timeout  float64 `json:"queue_timeout_seconds"`
	Queued   uint64  `json:"queued"`
	Timeouts uint64  `json:"timeouts"`
	Refused  uint64  `json:"refused"`
}

// MemberStatus is one member's state and counters.
type MemberStatus struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	State    string `json:"state"`
	Healthy  bool   `json:"healthy"`
	Reason   string `json:"reason,omitempty"`
	Weight   int    `json:"weight"`
	Domain   string `json:"domain,omitempty"`
	Redirect string `json:"redirect,omitempty"`
	InFlight int64  `json:"inflight"`
	// MaxConns is the member's max_conns (0: no limit); Queued, the
	// requests waiting for it in particular (its sessions').
	MaxConns int64 `json:"max_conns,omitempty"`
	Queued   int64 `json:"queued,omitempty"`
	// Warming is the member's share of new sessions in percent while it
	// warms up after coming back (slow_start); 0 when it takes its full
	// share.
	Warming  int    `json:"warming,omitempty"`
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	Retried  uint64 `json:"retried"`
	Source   string `json:"source"`

	Responses ResponseClasses `json:"responses"`
	Latency   LatencyStatus   `json:"latency"`
	// Sessions is the number of sessions pinned to the member; nil until
	// replication reports through SetSessionStats.
	Sessions *int `json:"sessions"`
	// Cluster sums the counters above over every proxy of the cluster that
	// reported them; absent when no peer did (alone, or no cluster).
	Cluster *ClusterCounters `json:"cluster,omitempty"`

	// Issue 15: Ejections counts the member's outlier ejections; while it
	// is out through one, EjectedAt and EjectedUntil say since and until
	// when (Reason says why).
	Ejections    uint64     `json:"ejections"`
	EjectedAt    *time.Time `json:"ejected_at,omitempty"`
	EjectedUntil *time.Time `json:"ejected_until,omitempty"`
}

// Status reads the server's state: node, cluster, balancers and members,
// certificates and sessions.
func (s *Server) Status() Status {
	st := Status{Node: NodeStatus{Version: s.opts.Version, Started: s.started, Draining: s.draining.Load()}}
	ss := s.sessionStats()
	if ss != nil {
		st.Sessions = &SessionsStatus{Entries: ss.Entries()}
		if lag := ss.Lag(); lag >= 0 {
			ms := float64(lag.Microseconds()) / 1000
			st.Sessions.LagMs = &ms
		}
		if sr, ok := ss.(syncReporter); ok {
			sync := sr.Sync()
			st.Sessions.Sync = &sync
		}
	}
	st.Certificates = s.Certificates()
	if c := s.opts.Cluster; c != nil {
		v := c.View()
		st.Node.Name = v.Self.Name
		cs := &ClusterStatus{Name: v.Self.Meta.Cluster, Self: v.Self.Name, Epoch: v.Epoch}
		for _, sm := range s.seen.Observe(v, time.Now()) {
			m := sm.Member
			ms := ClusterMemberStatus{
				Name: m.Name, Addr: m.Addr.String(), Role: m.Meta.Role.String(), Service: m.Meta.Service,
				Route: m.Meta.Route, URL: m.Meta.URL, State: m.Meta.State.String(), Healthy: m.Meta.Healthy, Version: m.Meta.Build,
				Status: "alive", FirstSeen: sm.First, LastSeen: sm.Last,
			}
			if sm.Gone {
				ms.Status, ms.Healthy = "gone", false
				cs.Gone = append(cs.Gone, ms)
				continue
			}
			cs.Members = append(cs.Members, ms)
		}
		cs.ConfigMismatches = append([]ConfigMismatch{}, s.mismatches()...)
		st.Cluster = cs
	}
	for _, b := range s.balancerList() {
		bs := BalancerStatus{
			Name: b.name, Policy: b.cfg.LBPolicy, Sticky: b.cfg.Sticky.Mode, Force: b.cfg.Sticky.Force,
			Failovers: b.failovers.Load(), NoMember: b.noMember.Load(), RecentFailovers: b.recent.list(),
			PinsRefused: b.pinsRefused.Load(),
		}
		b.resilienceStatus(&bs)
		if q := b.queue; q != nil {
			w, queued, timeouts, refused := q.status()
			bs.Queue = &QueueStatus{Waiting: w, Max: q.max, Timeout: q.timeout.Seconds(), Queued: queued, Timeouts: timeouts, Refused: refused}
		}
		for _, m := range b.set.Load().members {
			bs.Retries += m.retried.Load()
			var pinned *int
			if ss != nil {
				n := ss.Pinned(b.name, m.name)
				pinned = &n
			}
			bs.Members = append(bs.Members, MemberStatus{
				Name: m.name, URL: m.target.String(), State: routing.State(m.state.Load()).String(),
				Healthy: m.load.Healthy.Load(), Reason: m.healthReason(), Weight: m.weight,
				Domain: m.domain, Redirect: m.redirect, InFlight: m.load.InFlight.Load(),
				MaxConns: m.maxConns, Queued: m.queued.Load(), Warming: m.warming(),
				Requests: m.requests.Load(), Errors: m.errors.Load(), Retried: m.retried.Load(), Source: m.source,
				Responses: m.responseClasses(), Latency: m.latencyStatus(), Sessions: pinned,
			})
			m.ejectionStatus(&bs.Members[len(bs.Members)-1])
		}
		st.Balancers = append(st.Balancers, bs)
	}
	addClusterCounters(&st, s.peerCounters())
	return st
}

// Errors of Healthy: why this proxy should take no traffic now.
var (
	ErrDraining = errors.New("draining")
	ErrSyncing  = errors.New("syncing the session table")
)

// Healthy reports whether the proxy should take traffic (what /healthz
// answers): not while it drains, and not before it holds the session
// table, since a starting proxy would route failed-over and learned
// sessions wrongly.
func (s *Server) Healthy() error {
	if s.draining.Load() {
		return ErrDraining
	}
	if !s.sessionsReady() {
		return ErrSyncing
	}
	return nil
}

// ErrNotReplicated is returned by SetMemberState when the state was applied
// on this proxy but the session table refused it.
var ErrNotReplicated = errors.New("applied here, not replicated")

// SetMemberState sets a member's operator state (active, disabled or
// stopped) and, with a session table, replicates it to every proxy and
// persists it, so that it holds cluster-wide and across restarts.
func (s *Server) SetMemberState(balancer, member string, st routing.State) error {
	b := s.Balancer(balancer)
	if b == nil {
		return fmt.Errorf("no balancer %s: %w", balancer, ErrNotFound)
	}
	if err := b.SetState(member, st); err != nil {
		return err
	}
	if tab := s.opts.Sessions; tab != nil {
		if _, err := tab.SetMemberState(b.name, member, st.String(), time.Now()); err != nil {
			return fmt.Errorf("%w: %w", ErrNotReplicated, err)
		}
	}
	return nil
}

package proxy

import (
	"context"
	"sync"
	"time"

	"github.com/tether-proxy/tether/proxy/certs"
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
// Until one is set with SetSessionStats the status page shows "n/a" and
// the replication metrics are absent. Implementations must be safe for
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

// SetSessionStats makes the admin API (status page, /api/status and
// /metrics) report sessions from st. It may be called at any time.
func (s *Server) SetSessionStats(st SessionStats) {
	if s.admin != nil {
		s.admin.sessions.Store(&sessionStatsBox{st})
	}
}

func (s *Server) sessionStats() SessionStats {
	if s.admin == nil {
		return nil
	}
	if b := s.admin.sessions.Load(); b != nil {
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
	return LatencyStatus{Count: s.count, P50: ms(s.Quantile(0.5)), P90: ms(s.Quantile(0.9)), P99: ms(s.Quantile(0.99))}
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

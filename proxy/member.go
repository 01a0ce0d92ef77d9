package proxy

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/routing"
)

// member is one backend of a balancer: where it is, how to reach it, and
// its health. It outlives routing tables: a table rebuild (state change,
// discovery) keeps the member and its counters.
type member struct {
	name   string
	target *url.URL // scheme http, https, h2c or ajp; host:port
	scheme string   // the outbound URL's scheme (http for h2c)
	rt     http.RoundTripper
	// grpc carries gRPC calls over HTTP/2; nil when the member cannot
	// (HTTP/1.1 or AJP): its balancer refuses them.
	grpc   http.RoundTripper
	trKey  string // the transport settings it was built with (see transports)
	load   *routing.Load
	source string // "config" or "cluster"

	// settings copied from the config member
	weight   int
	domain   string
	redirect string

	// state is the operator state, a routing.State.
	state atomic.Uint32

	// maxConns is the member's max_conns (0: none); queued counts the
	// requests waiting for it in particular (queue.go). rampFrom is when
	// its slow start began (Unix ns; 0: not warming), see slowstart.go.
	maxConns int64
	queued   atomic.Int64
	rampFrom atomic.Int64

	requests atomic.Uint64 // responses received (any status)
	errors   atomic.Uint64 // transport failures and fail_on_status answers
	retried  atomic.Uint64 // requests that left this member for another

	// responses counts answers by status class (index status/100, 1..5);
	// index 0 counts transport failures. One atomic add per attempt.
	responses [6]atomic.Uint64
	latency   latencyHist // time to response headers, per attempt

	// mu guards the health bookkeeping below.
	mu         sync.Mutex
	fails      int       // consecutive passive failures
	downUntil  time.Time // passive: out until then (zero when up)
	downReason string    // why it is out, for the status page and logs
	probeFails int       // consecutive active-check failures
	probePass  int       // consecutive active-check passes
	kept       bool      // at max_fails but kept in rotation (the cap on members out)

	// Outlier ejection (outlier.go, issue 15). ejections is the back-off's
	// multiplier (guarded by mu, as are ejected and ejectedAt: out through
	// ejection, since then); ejectedTotal counts every ejection.
	outlier      outlierCounts
	ejections    int
	ejected      bool
	ejectedAt    time.Time
	ejectedTotal atomic.Uint64
}

// newMember builds a member from its config, with its own transport (its
// own keep-alive pool and limits) from ts.
func newMember(ts *transports, m config.Member) (*member, error) {
	u, err := url.Parse(m.URL)
	if err != nil {
		return nil, fmt.Errorf("member %s: url %q: %w", m.Name, m.URL, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("member %s: url %q has no host", m.Name, m.URL)
	}
	st, err := parseState(m.State)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", m.Name, err)
	}
	mb := &member{
		name:     m.Name,
		target:   &url.URL{Scheme: u.Scheme, Host: u.Host},
		scheme:   schemeOut(u.Scheme),
		trKey:    ts.key,
		load:     &routing.Load{},
		source:   "config",
		weight:   max(m.Weight, 1),
		domain:   m.Domain,
		redirect: m.Redirect,
		maxConns: int64(ts.cfg.EffectiveMaxConns(&m)),
	}
	mb.load.Healthy.Store(true)
	mb.state.Store(uint32(st))
	if mb.rt, mb.grpc, err = ts.member(u.Scheme, u.Host, int(mb.maxConns)); err != nil {
		return nil, fmt.Errorf("member %s: %w", m.Name, err)
	}
	return mb, nil
}

// closeIdle closes the member's idle keep-alive connections (both the HTTP
// and the AJP transport have CloseIdleConnections).
func (m *member) closeIdle() {
	for _, rt := range []http.RoundTripper{m.rt, m.grpc} {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// parseState reads an operator state name ("" means active).
func parseState(s string) (routing.State, error) {
	if s == "" {
		return routing.Active, nil
	}
	st, ok := routing.ParseState(s)
	if !ok {
		return 0, fmt.Errorf("unknown state %q (want active, disabled or stopped)", s)
	}
	return st, nil
}

// failOutcome is what a passive failure did to a member.
type failOutcome int

const (
	failCounted failOutcome = iota // counted; the member stays (below max_fails, or already out)
	failTookOut                    // the member is out for its recover time
	failKept                       // at max_fails, but kept: too many of the balancer's members are out
)

// passiveFail records a failed exchange. After maxFails consecutive
// failures the member is out for recover, if mayTakeOut; otherwise it stays
// in rotation, and failKept is reported once per streak.
func (m *member) passiveFail(now time.Time, maxFails int, recover time.Duration, reason string, mayTakeOut bool) failOutcome {
	m.errors.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fails++
	if m.fails < max(maxFails, 1) || !m.downUntil.IsZero() && now.Before(m.downUntil) {
		return failCounted
	}
	wasUp := m.load.Healthy.Load()
	if wasUp && !mayTakeOut {
		if m.kept {
			return failCounted
		}
		m.kept = true
		return failKept
	}
	m.downUntil = now.Add(recover)
	m.downReason = reason
	m.load.Healthy.Store(false)
	if wasUp {
		return failTookOut
	}
	return failCounted
}

// passiveOK records a successful exchange.
func (m *member) passiveOK() {
	m.mu.Lock()
	if m.fails != 0 {
		m.fails = 0
		m.kept = false
	}
	m.mu.Unlock()
}

// recoverIfDue puts a passively failed member back once its recover time
// has passed (mod_jk's ERR → REC: the next real request probes it). Active
// checks, when configured, decide instead. It reports whether it recovered.
func (m *member) recoverIfDue(now time.Time, active bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.downUntil.IsZero() || now.Before(m.downUntil) {
		return false
	}
	m.downUntil = time.Time{}
	m.fails = 0
	m.ejected = false
	if active && m.probeFails > 0 {
		return false // the active check holds it out
	}
	m.downReason = ""
	m.load.Healthy.Store(true)
	return true
}

// probeResult records an active health check. It returns the new health
// and whether it changed.
func (m *member) probeResult(ok bool, fails, passes int, reason string) (healthy, changed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.load.Healthy.Load()
	if ok {
		m.probeFails = 0
		m.probePass++
		if !was && m.probePass >= max(passes, 1) && m.downUntil.IsZero() {
			m.load.Healthy.Store(true)
			m.downReason = ""
		}
	} else {
		m.probePass = 0
		m.probeFails++
		if was && m.probeFails >= max(fails, 1) {
			m.load.Healthy.Store(false)
			m.downReason = reason
		}
	}
	now := m.load.Healthy.Load()
	return now, now != was
}

// healthReason returns why the member is out, or "".
func (m *member) healthReason() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.downReason
}

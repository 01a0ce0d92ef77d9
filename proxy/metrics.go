package proxy

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tether-proxy/tether/routing"
)

// metrics is GET /metrics: a registry of this server's own (no global
// DefaultRegisterer, so two servers in one process, as in tests, never
// collide) with the Go runtime and process collectors and one collector
// that reads Tether's counters when scraped. Requests pay nothing for
// metrics beyond the atomic counters the status page reads anyway.
type metrics struct {
	reg *prometheus.Registry
}

func newMetrics(s *Server) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newTetherCollector(s),
	)
	return &metrics{reg: reg}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// The metric descriptions. Names and labels are documented in README.md
// (Admin API); keep the two in step.
var (
	mBuildInfo = prometheus.NewDesc("tether_build_info", "Tether's version; always 1.", []string{"version"}, nil)
	mDraining  = prometheus.NewDesc("tether_draining", "1 while this node drains (healthz answers 503), else 0.", nil, nil)
	mStart     = prometheus.NewDesc("tether_start_time_seconds", "When this node's server started, in Unix seconds.", nil, nil)

	memberLabels = []string{"balancer", "member"}
	mRequests    = prometheus.NewDesc("tether_member_requests_total",
		"Attempts sent to a member, by outcome: the status class of its answer (1xx..5xx) or error (no answer: refused, reset, timeout).",
		[]string{"balancer", "member", "class"}, nil)
	mLatency = prometheus.NewDesc("tether_member_response_seconds",
		"Time from sending an attempt to a member to its response headers.", memberLabels, nil)
	mInFlight = prometheus.NewDesc("tether_member_inflight_requests", "Requests a member is answering now.", memberLabels, nil)
	mHealthy  = prometheus.NewDesc("tether_member_healthy", "1 when a member passes its health checks and passive checks, else 0.", memberLabels, nil)
	mState    = prometheus.NewDesc("tether_member_state",
		"A member's operator state: 1 for the current state (active, disabled, stopped), 0 for the others.",
		[]string{"balancer", "member", "state"}, nil)
	mFailures = prometheus.NewDesc("tether_member_failures_total",
		"Failed exchanges counted against a member's health (transport errors and fail_on_status answers).", memberLabels, nil)
	mRetries = prometheus.NewDesc("tether_member_retries_total",
		"Requests that failed on a member and were retried on another.", memberLabels, nil)
	mPinned = prometheus.NewDesc("tether_member_sessions_pinned",
		"Replicated sessions whose route is this member (present once replication reports).", memberLabels, nil)
	mFailovers = prometheus.NewDesc("tether_balancer_failovers_total",
		"Sticky requests sent away from their session's member because it was unusable.", []string{"balancer"}, nil)
	mNoMember = prometheus.NewDesc("tether_balancer_no_member_total",
		"Requests answered 503 because no member was usable.", []string{"balancer"}, nil)
	mPinsRefused = prometheus.NewDesc("tether_balancer_pins_refused_total",
		"Failed-over sessions left without a failover pin because the balancer's pin rate limit was reached.", []string{"balancer"}, nil)
	mClusterMembers = prometheus.NewDesc("tether_cluster_members",
		"Live cluster members as this node sees them, by role and advertised state.", []string{"role", "state"}, nil)
	mClusterEpoch = prometheus.NewDesc("tether_cluster_epoch", "The epoch of this node's current cluster view.", nil, nil)
	mMismatch     = prometheus.NewDesc("tether_cluster_config_mismatch",
		"1 for each balancer whose name or configured members differ on a peer proxy (balancer empty until the peer's counters say which); absent when the proxies agree.",
		[]string{"peer", "balancer"}, nil)
	mCertExpiry = prometheus.NewDesc("tether_certificate_expiry_timestamp_seconds",
		"When a served certificate expires, in Unix seconds; name is its first subject name.", []string{"name", "source"}, nil)
	mReplEntries = prometheus.NewDesc("tether_replication_entries",
		"Entries in the replicated session table (present once replication reports).", nil, nil)
	mReplLag = prometheus.NewDesc("tether_replication_lag_seconds",
		"How far this node's session table is behind its peers (present once replication reports).", nil, nil)
)

// latencyBucketsSeconds are latencyBounds in seconds, the histogram's
// upper bounds.
var latencyBucketsSeconds = func() []float64 {
	out := make([]float64, len(latencyBounds))
	for i, b := range latencyBounds {
		out[i] = b.Seconds()
	}
	return out
}()

// tetherCollector reads a Server's counters at scrape time.
type tetherCollector struct{ s *Server }

var _ prometheus.Collector = tetherCollector{}

func newTetherCollector(s *Server) tetherCollector { return tetherCollector{s: s} }

func (c tetherCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mBuildInfo, mDraining, mStart, mRequests, mLatency, mInFlight, mHealthy,
		mState, mFailures, mRetries, mPinned, mFailovers, mNoMember, mPinsRefused, mClusterMembers, mClusterEpoch, mMismatch, mCertExpiry,
		mReplEntries, mReplLag} {
		ch <- d
	}
}

var classLabels = [6]string{"error", "1xx", "2xx", "3xx", "4xx", "5xx"}

func (c tetherCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(mBuildInfo, 1, s.opts.Version)
	gauge(mDraining, b2f(s.draining.Load()))
	gauge(mStart, float64(s.started.UnixNano())/1e9)

	ss := s.sessionStats()
	for _, b := range s.balancerList() {
		counter(mFailovers, b.failovers.Load(), b.name)
		counter(mNoMember, b.noMember.Load(), b.name)
		counter(mPinsRefused, b.pinsRefused.Load(), b.name)
		for _, m := range b.set.Load().members {
			for i, l := range classLabels {
				counter(mRequests, m.responses[i].Load(), b.name, m.name, l)
			}
			h := m.latency.Snapshot()
			buckets := make(map[float64]uint64, len(latencyBucketsSeconds))
			var cum uint64
			for i, ub := range latencyBucketsSeconds {
				cum += h.counts[i]
				buckets[ub] = cum
			}
			ch <- prometheus.MustNewConstHistogram(mLatency, h.count, h.sum.Seconds(), buckets, b.name, m.name)
			gauge(mInFlight, float64(m.load.InFlight.Load()), b.name, m.name)
			gauge(mHealthy, b2f(m.load.Healthy.Load()), b.name, m.name)
			cur := routing.State(m.state.Load())
			for _, st := range []routing.State{routing.Active, routing.Disabled, routing.Stopped} {
				gauge(mState, b2f(cur == st), b.name, m.name, st.String())
			}
			counter(mFailures, m.errors.Load(), b.name, m.name)
			counter(mRetries, m.retried.Load(), b.name, m.name)
			if ss != nil {
				gauge(mPinned, float64(ss.Pinned(b.name, m.name)), b.name, m.name)
			}
		}
	}
	if cl := s.opts.Cluster; cl != nil {
		v := cl.View()
		gauge(mClusterEpoch, float64(v.Epoch))
		type key struct{ role, state string }
		counts := map[key]int{}
		for _, m := range v.Members {
			counts[key{m.Meta.Role.String(), m.Meta.State.String()}]++
		}
		for k, n := range counts {
			gauge(mClusterMembers, float64(n), k.role, k.state)
		}
		for _, mm := range s.mismatches() {
			gauge(mMismatch, 1, mm.Peer, mm.Balancer)
		}
	}
	seen := map[string]bool{}
	for _, cert := range s.Certificates() {
		name := strings.Join(cert.Names[:min(1, len(cert.Names))], "")
		if seen[name+"|"+cert.Source] {
			continue // an older copy of a renewed certificate: the soonest expiry is listed first
		}
		seen[name+"|"+cert.Source] = true
		gauge(mCertExpiry, float64(cert.NotAfter.Unix()), name, cert.Source)
	}
	if ss != nil {
		gauge(mReplEntries, float64(ss.Entries()))
		if lag := ss.Lag(); lag >= 0 {
			gauge(mReplLag, lag.Seconds())
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package admin

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tether-proxy/tether/proxy"
	"github.com/tether-proxy/tether/routing"
)

// newMetrics is GET /metrics: a registry of this server's own (no global
// DefaultRegisterer, so two servers in one process, as in tests, never
// collide) with the Go runtime and process collectors and one collector
// that reads the server's Status when scraped, the same read model the
// status page and /api/status show. Requests pay nothing for metrics
// beyond the atomic counters the status page reads anyway.
func newMetrics(s *proxy.Server) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collector{status: s.Status},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
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

// Protecting the members (proxy/queue.go, proxy/slowstart.go): max_conns,
// the queue and slow start.
var (
	mMaxConns = prometheus.NewDesc("tether_member_max_conns",
		"A member's max_conns, the most requests in flight it takes (present when it has one).", memberLabels, nil)
	mMemberQueued = prometheus.NewDesc("tether_member_queued_requests",
		"Requests waiting for this member in particular (its sessions', while it is at max_conns).", memberLabels, nil)
	mWarming = prometheus.NewDesc("tether_member_slow_start_share",
		"A member's share of new sessions while it warms up (slow_start), 0..1; 1 when it takes its full share.", memberLabels, nil)
	mQueueWaiting = prometheus.NewDesc("tether_balancer_queue_waiting",
		"Requests waiting in the balancer's queue for a member at max_conns (present when a member has a limit).", []string{"balancer"}, nil)
	mQueued = prometheus.NewDesc("tether_balancer_queued_total",
		"Requests that waited in the balancer's queue.", []string{"balancer"}, nil)
	mQueueTimeouts = prometheus.NewDesc("tether_balancer_queue_timeouts_total",
		"Requests answered 503 after waiting queue_timeout for a member.", []string{"balancer"}, nil)
	mQueueRefused = prometheus.NewDesc("tether_balancer_queue_refused_total",
		"Requests answered 503 at once because max_queue requests were waiting.", []string{"balancer"}, nil)
	protectDescs = []*prometheus.Desc{mMaxConns, mMemberQueued, mWarming, mQueueWaiting, mQueued, mQueueTimeouts, mQueueRefused}
)

// latencyBucketsSeconds are proxy.LatencyBounds in seconds, the
// histogram's upper bounds.
var latencyBucketsSeconds = func() []float64 {
	out := make([]float64, len(proxy.LatencyBounds()))
	for i, b := range proxy.LatencyBounds() {
		out[i] = b.Seconds()
	}
	return out
}()

// collector reads a Server's Status at scrape time.
type collector struct{ status func() proxy.Status }

var _ prometheus.Collector = collector{}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mBuildInfo, mDraining, mStart, mRequests, mLatency, mInFlight, mHealthy,
		mState, mFailures, mRetries, mPinned, mFailovers, mNoMember, mPinsRefused, mClusterMembers, mClusterEpoch, mMismatch, mCertExpiry,
		mReplEntries, mReplLag} {
		ch <- d
	}
	for _, d := range resilienceDescs {
		ch <- d
	}
	for _, d := range protectDescs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(mBuildInfo, 1, st.Node.Version)
	gauge(mDraining, b2f(st.Node.Draining))
	gauge(mStart, float64(st.Node.Started.UnixNano())/1e9)

	for _, b := range st.Balancers {
		counter(mFailovers, b.Failovers, b.Name)
		counter(mNoMember, b.NoMember, b.Name)
		counter(mPinsRefused, b.PinsRefused, b.Name)
		collectResilience(ch, b)
		if q := b.Queue; q != nil {
			gauge(mQueueWaiting, float64(q.Waiting), b.Name)
			counter(mQueued, q.Queued, b.Name)
			counter(mQueueTimeouts, q.Timeouts, b.Name)
			counter(mQueueRefused, q.Refused, b.Name)
		}
		for _, m := range b.Members {
			r := m.Responses
			for i, n := range [...]uint64{r.Transport, r.Informational, r.Success, r.Redirect, r.ClientError, r.ServerError} {
				counter(mRequests, n, b.Name, m.Name, classLabels[i])
			}
			l := m.Latency
			buckets := make(map[float64]uint64, len(latencyBucketsSeconds))
			var cum uint64
			for i, ub := range latencyBucketsSeconds {
				if i < len(l.Buckets) {
					cum += l.Buckets[i]
				}
				buckets[ub] = cum
			}
			ch <- prometheus.MustNewConstHistogram(mLatency, l.Count, l.Sum.Seconds(), buckets, b.Name, m.Name)
			gauge(mInFlight, float64(m.InFlight), b.Name, m.Name)
			if m.MaxConns > 0 {
				gauge(mMaxConns, float64(m.MaxConns), b.Name, m.Name)
			}
			if b.Queue != nil {
				gauge(mMemberQueued, float64(m.Queued), b.Name, m.Name)
			}
			share := 1.0
			if m.Warming > 0 {
				share = float64(m.Warming) / 100
			}
			gauge(mWarming, share, b.Name, m.Name)
			gauge(mHealthy, b2f(m.Healthy), b.Name, m.Name)
			for _, s := range [...]routing.State{routing.Active, routing.Disabled, routing.Stopped} {
				gauge(mState, b2f(m.State == s.String()), b.Name, m.Name, s.String())
			}
			counter(mFailures, m.Errors, b.Name, m.Name)
			counter(mRetries, m.Retried, b.Name, m.Name)
			if m.Sessions != nil {
				gauge(mPinned, float64(*m.Sessions), b.Name, m.Name)
			}
		}
	}
	if cs := st.Cluster; cs != nil {
		gauge(mClusterEpoch, float64(cs.Epoch))
		type key struct{ role, state string }
		counts := map[key]int{}
		for _, m := range cs.Members {
			counts[key{m.Role, m.State}]++
		}
		for k, n := range counts {
			gauge(mClusterMembers, float64(n), k.role, k.state)
		}
		for _, mm := range cs.ConfigMismatches {
			gauge(mMismatch, 1, mm.Peer, mm.Balancer)
		}
	}
	seen := map[string]bool{}
	for _, cert := range st.Certificates {
		name := strings.Join(cert.Names[:min(1, len(cert.Names))], "")
		if seen[name+"|"+cert.Source] {
			continue // an older copy of a renewed certificate: the soonest expiry is listed first
		}
		seen[name+"|"+cert.Source] = true
		gauge(mCertExpiry, float64(cert.NotAfter.Unix()), name, cert.Source)
	}
	if ss := st.Sessions; ss != nil {
		gauge(mReplEntries, float64(ss.Entries))
		if ss.LagMs != nil {
			gauge(mReplLag, *ss.LagMs/1000)
		}
	}
}

// classLabels are the class label's values, in the order Collect lists
// ResponseClasses' fields.
var classLabels = [6]string{"error", "1xx", "2xx", "3xx", "4xx", "5xx"}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package proxy

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of a latencyHist's buckets: a 1-2.5-5
// series from 500µs to 60s, the range a front door's members answer in.
// The last bucket (above 60s) has no bound. They double as the Prometheus
// histogram's buckets, so the two never disagree.
var latencyBounds = [...]time.Duration{
	500 * time.Microsecond,
	1 * time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	1 * time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second, 60 * time.Second,
}

// LatencyBounds returns the upper bounds of the latency histogram's
// buckets (LatencyStatus.Buckets); the last bucket has none.
func LatencyBounds() []time.Duration { return latencyBounds[:] }

// latencyHist is a lock-free histogram of durations with fixed log-scale
// buckets. Observe is a short scan and two atomic adds; readers take a
// snapshot and compute percentiles from it, so a scrape or a status page
// never slows the request path. Counts are cumulative since start.
type latencyHist struct {
	counts [len(latencyBounds) + 1]atomic.Uint64
	sumNs  atomic.Uint64
}

// Observe records one duration (negative counts as zero).
func (h *latencyHist) Observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(d))
}

// histSnapshot is a copy of a latencyHist's counts at one moment.
type histSnapshot struct {
	counts [len(latencyBounds) + 1]uint64
	count  uint64
	sum    time.Duration
}

// Snapshot copies the counts. Buckets are read one by one, so a snapshot
// taken under load may be off by the few observations made meanwhile; the
// total is the sum of the copied buckets, so it is always consistent with
// them.
func (h *latencyHist) Snapshot() histSnapshot {
	var s histSnapshot
	for i := range h.counts {
		s.counts[i] = h.counts[i].Load()
		s.count += s.counts[i]
	}
	s.sum = time.Duration(h.sumNs.Load())
	return s
}

// Quantile estimates the q-quantile (0 < q ≤ 1) by linear interpolation
// inside the bucket that holds it. It returns 0 without observations; a
// quantile in the unbounded last bucket reports the last bound.
func (s histSnapshot) Quantile(q float64) time.Duration {
	if s.count == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(s.count)
	var seen uint64
	for i, c := range s.counts {
		if c == 0 || float64(seen+c) < rank {
			seen += c
			continue
		}
		if i == len(latencyBounds) {
			return latencyBounds[len(latencyBounds)-1]
		}
		lo := time.Duration(0)
		if i > 0 {
			lo = latencyBounds[i-1]
		}
		hi := latencyBounds[i]
		frac := (rank - float64(seen)) / float64(c)
		return lo + time.Duration(frac*float64(hi-lo))
	}
	return latencyBounds[len(latencyBounds)-1]
}

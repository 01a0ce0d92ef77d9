package proxy

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/routing"
)

// budgetBuckets is how many slices a retry budget's window is cut into:
// the window slides by a tenth of itself.
const budgetBuckets = 10

// retryBudget is a balancer's retry_budget: over a sliding window, the
// retries it sends to other members may be at most a share of the requests
// it received, plus a floor of retries a second that are always allowed
// (see config.RetryBudget). Counting is two atomic adds on one bucket per
// request and no allocation; only a retry sums the window.
//
// The buckets are reset by the first request of a new slice; a count that
// races with the reset may be lost, which only makes the budget slightly
// more or less generous for one slice.
type retryBudget struct {
	ratio    float64 // Percent / 100
	floor    float64 // MinPerSec × the window in seconds: retries always allowed per window
	bucketNs int64
	buckets  [budgetBuckets]budgetBucket
	refused  atomic.Uint64
	// lastWarn is when a refusal was last logged (Unix seconds).
	lastWarn atomic.Int64
}

type budgetBucket struct {
	epoch    atomic.Int64 // which slice of time the counts are of
	requests atomic.Int64
	retries  atomic.Int64
}

func newRetryBudget(c *config.RetryBudget) *retryBudget {
	if c == nil {
		return nil
	}
	w := c.Window
	if w <= 0 {
		w = 10 * time.Second
	}
	return &retryBudget{
		ratio:    float64(c.Percent) / 100,
		floor:    float64(c.MinPerSec) * w.Seconds(),
		bucketNs: max(int64(w)/budgetBuckets, 1),
	}
}

// bucket returns the bucket of the slice now falls in, reset if it held
// an older slice.
func (rb *retryBudget) bucket(now int64) *budgetBucket {
	e := now / rb.bucketNs
	bk := &rb.buckets[e%budgetBuckets]
	if old := bk.epoch.Load(); old != e && bk.epoch.CompareAndSwap(old, e) {
		bk.requests.Store(0)
		bk.retries.Store(0)
	}
	return bk
}

// request counts one request the balancer received at now (UnixNano).
func (rb *retryBudget) request(now int64) {
	rb.bucket(now).requests.Add(1)
}

// window sums the requests and retries of the window ending at now.
func (rb *retryBudget) window(now int64) (requests, retries int64) {
	e := now / rb.bucketNs
	for i := range rb.buckets {
		bk := &rb.buckets[i]
		if be := bk.epoch.Load(); be <= e && be > e-budgetBuckets {
			requests += bk.requests.Load()
			retries += bk.retries.Load()
		}
	}
	return requests, retries
}

// allow reports whether one more retry fits the budget at now, and counts
// it if so; a refusal is counted in refused.
func (rb *retryBudget) allow(now int64) bool {
	req, ret := rb.window(now)
	if float64(ret+1) > rb.ratio*float64(req)+rb.floor {
		rb.refused.Add(1)
		return false
	}
	rb.bucket(now).retries.Add(1)
	return true
}

// tryTimeUp reports whether a request has tried for its lb_try_duration
// already: no attempt starts after that.
func (b *Balancer) tryTimeUp(st *reqState) bool {
	return b.cfg.TryDuration > 0 && b.now().Sub(st.start) >= b.cfg.TryDuration
}

// waitPick is lb_try_duration's wait: while the request has time left, it
// waits lb_try_interval and picks again among all members (those it
// already tried included: one may be back), until one is usable. It
// returns ErrNoMember when time runs out or ctx ends, and any other
// error of a pick as it is.
func (b *Balancer) waitPick(ctx context.Context, st *reqState) (routing.Decision, error) {
	interval := orDefault(b.cfg.TryInterval, 250*time.Millisecond) // Caddy's default
	for {
		left := b.cfg.TryDuration - b.now().Sub(st.start)
		if left <= 0 {
			return routing.Decision{}, routing.ErrNoMember
		}
		t := time.NewTimer(min(interval, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return routing.Decision{}, routing.ErrNoMember
		case <-t.C:
		}
		st.set = b.set.Load() // a member may have been added or re-enabled
		st.req.Exclude = 0
		dec, err := st.set.table.Pick(&st.req)
		if !errors.Is(err, routing.ErrNoMember) {
			return dec, err // a member, or an answer other than "none usable"
		}
	}
}

// retryRefused records a retry the budget refused: counted, and logged at
// most once a second per balancer.
func (b *Balancer) retryRefused(m *member, err error) {
	now := b.now().Unix()
	if last := b.budget.lastWarn.Load(); now > last && b.budget.lastWarn.CompareAndSwap(last, now) {
		b.log.Warn().Str("member", m.name).Err(err).Uint64("refused", b.budget.refused.Load()).
			Msg("retry refused: the retry budget is spent")
	}
}

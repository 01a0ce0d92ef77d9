package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-proxy/tether/routing"
)

// Members' concurrency limits (max_conns) and the balancer's queue.
//
// A request holds a slot of its member (routing.Load.InFlight, raised only
// below the member's limit) from before it is sent until its answer is
// copied. When its member is full (a session's own member) or every usable
// member is (a new session: routing.ErrBusy), it waits in the balancer's
// queue, first come first served: a released slot is handed to the first
// waiter that can use that member (one waiting for it, or for any member
// it may take), without passing through zero, so newcomers cannot take it
// first. A waiter leaves when it gets a slot, after queue_timeout (503
// with Retry-After), when its client goes away, or when its member stops
// being usable (it picks again: its session fails over). Beyond max_queue
// waiters a request is answered 503 at once.
//
// The uncongested path costs a compare-and-swap on the member's in-flight
// count and an atomic load of the queue's length; it does not lock or
// allocate. Lock order: Balancer.mu (rebuilds) before waitQueue.mu; the
// queue's lock is never held while calling out.

// waitQueue is a balancer's queue of requests waiting for a member.
type waitQueue struct {
	max     int           // max_queue
	timeout time.Duration // queue_timeout

	waiting atomic.Int64 // len(queue), read without the lock by release

	mu         sync.Mutex
	head, tail *waiter

	// Counters for the status page and metrics.
	queued   atomic.Uint64 // requests that waited
	timeouts atomic.Uint64 // answered 503 after queue_timeout
	refused  atomic.Uint64 // answered 503 at once: max_queue waiting
}

// waiter is one request in the queue.
type waiter struct {
	prev, next *waiter
	st         *reqState
	want       *member       // the member it waits for; nil: any it may take
	ready      chan struct{} // closed once decided (got set, or repick)
	got        *member       // the member whose slot it was handed; nil: pick again
	gotIndex   int           // got's index in st.set
	done       bool          // decided or removed (under the queue's lock)
}

// queueError is a request the queue turned away: answered 503 with
// Retry-After.
type queueError struct {
	timeout    bool // waited queue_timeout (else: max_queue were waiting)
	retryAfter int  // seconds
}

func (e *queueError) Error() string {
	if e.timeout {
		return "no member had room within queue_timeout"
	}
	return "every member is at max_conns and the queue is full"
}

func newWaitQueue(max int, timeout time.Duration) *waitQueue {
	return &waitQueue{max: max, timeout: timeout}
}

func (q *waitQueue) retryAfter() int {
	return max(int((q.timeout+time.Second-1)/time.Second), 1)
}

// tryAcquire takes a slot of m: it raises m's in-flight count unless it is
// at m's limit.
func (m *member) tryAcquire() bool {
	if m.maxConns <= 0 {
		m.load.InFlight.Add(1)
		return true
	}
	for {
		v := m.load.InFlight.Load()
		if v >= m.maxConns {
			return false
		}
		if m.load.InFlight.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// release gives back a slot of m: to the first waiter that can use it,
// else to the member.
func (b *Balancer) release(m *member) {
	m.load.InFlight.Add(-1)
	if q := b.queue; q != nil && q.waiting.Load() > 0 {
		q.dispatch(m)
	}
}

// admit gets the request a slot: of st.dec's member when perr is nil, of
// any member it may take when perr is routing.ErrBusy. It waits in the
// queue when it must, and may change st.dec (a new session gets the member
// that had room first; a waiter whose member went down picks again).
func (b *Balancer) admit(st *reqState, perr error) error {
	q := b.queue
	for {
		if perr == nil {
			m := st.set.members[st.dec.Index]
			if m.maxConns <= 0 || (q == nil || q.waiting.Load() == 0) && m.tryAcquire() {
				if m.maxConns <= 0 {
					m.load.InFlight.Add(1)
				}
				st.cur = m
				return nil
			}
			if q == nil {
				return &queueError{retryAfter: 1} // unreachable: a limit comes with a queue
			}
		} else if !errors.Is(perr, routing.ErrBusy) || q == nil {
			return perr
		}
		w, err := q.enqueue(st, perr)
		if err != nil {
			return err
		}
		if w == nil {
			return nil // a slot was free after all: st.cur holds it
		}
		if err := q.wait(b, st, w); err != nil {
			return err
		}
		if st.cur != nil {
			return nil
		}
		// The member it waited for is gone: pick again (its session
		// fails over, or a new one balances), from the current table,
		// which has the member's new state.
		st.refreshSet(b.set.Load())
		st.dec, perr = st.set.table.Pick(&st.req)
	}
}

// refreshSet moves the request to set, the balancer's current members.
// Its tried members (Exclude, by index) carry over when the members are
// the same; otherwise they are forgotten (a tried member is down anyway).
func (st *reqState) refreshSet(set *memberSet) {
	if set == st.set {
		return
	}
	if !slices.Equal(set.members, st.set.members) {
		st.req.Exclude = 0
	}
	st.set = set
}

// enqueue, under the queue's lock, takes a free slot if one is there and
// no earlier waiter may have it (nil waiter), else queues the request;
// with max waiting already it refuses.
func (q *waitQueue) enqueue(st *reqState, perr error) (*waiter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var want *member
	if perr == nil {
		want = st.set.members[st.dec.Index]
		if !q.claimedLocked(st, want) && want.tryAcquire() {
			st.cur = want
			return nil, nil
		}
	} else if q.head == nil {
		// Nobody waits: a slot freed since the pick is this request's.
		if dec, err := st.set.table.Pick(&st.req); err == nil {
			if m := st.set.members[dec.Index]; m.tryAcquire() {
				st.dec, st.cur = dec, m
				return nil, nil
			}
		}
	}
	if int(q.waiting.Load()) >= q.max {
		q.refused.Add(1)
		return nil, &queueError{retryAfter: q.retryAfter()}
	}
	w := &waiter{st: st, want: want, ready: make(chan struct{}), gotIndex: -1}
	w.prev = q.tail
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	q.waiting.Add(1)
	q.queued.Add(1)
	if want != nil {
		want.queued.Add(1)
	}
	return w, nil
}

// claimedLocked reports whether a waiter could take a slot of m.
func (q *waitQueue) claimedLocked(st *reqState, m *member) bool {
	for w := q.head; w != nil; w = w.next {
		if w.want == m || w.want == nil && w.index(m) >= 0 {
			return true
		}
	}
	return false
}

// index returns m's index in the waiter's member set if the waiter may
// take it (a new session: usable for new requests, not tried), else -1.
func (w *waiter) index(m *member) int {
	if routing.State(m.state.Load()) != routing.Active {
		return -1 // the waiter's table may be older than an operator's change
	}
	for i, o := range w.st.set.members {
		if o == m {
			if w.st.set.table.Usable(&w.st.req, i) {
				return i
			}
			return -1
		}
	}
	return -1
}

// removeLocked takes w out of the queue.
func (q *waitQueue) removeLocked(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next = nil, nil
	w.done = true
	q.waiting.Add(-1)
	if w.want != nil {
		w.want.queued.Add(-1)
	}
}

// grantLocked hands w a slot of m (already taken), or none (got nil: pick
// again), and wakes it.
func (q *waitQueue) grantLocked(w *waiter, m *member, i int) {
	q.removeLocked(w)
	w.got, w.gotIndex = m, i
	close(w.ready)
}

// dispatch hands free slots of m to the waiters that can use them, first
// come first served.
func (q *waitQueue) dispatch(m *member) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for w := q.head; w != nil; {
		next := w.next
		i := -1
		if w.want == m && stickyUsable(m) {
			i = w.st.dec.Index
		} else if w.want == nil {
			i = w.index(m)
		}
		if i >= 0 {
			if !m.tryAcquire() {
				return
			}
			q.grantLocked(w, m, i)
		}
		w = next
	}
}

// dispatchAll hands every member's free slots to the waiters (a member
// came back, a limit changed), and tells waiters whose member can no
// longer take them to pick again. Run calls it every tick.
func (q *waitQueue) dispatchAll() {
	if q.waiting.Load() == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for w := q.head; w != nil; {
		next := w.next
		set := w.st.set
		if w.want != nil {
			i := w.st.dec.Index
			switch {
			case !stickyUsable(w.want):
				q.grantLocked(w, nil, -1)
			case w.want.tryAcquire():
				q.grantLocked(w, w.want, i)
			}
		} else {
			for i, m := range set.members {
				if set.table.Usable(&w.st.req, i) && m.tryAcquire() {
					q.grantLocked(w, m, i)
					break
				}
			}
		}
		w = next
	}
}

// stickyUsable reports whether m may take its sessions' requests: healthy
// and not stopped.
func stickyUsable(m *member) bool {
	return m.load.Healthy.Load() && routing.State(m.state.Load()) != routing.Stopped
}

// wait blocks until w is granted a slot (st.cur set, st.dec its member),
// told to pick again (st.cur nil), times out or its client goes away.
func (q *waitQueue) wait(b *Balancer, st *reqState, w *waiter) error {
	t := time.NewTimer(q.timeout)
	defer t.Stop()
	var err error
	select {
	case <-w.ready:
	case <-t.C:
		err = &queueError{timeout: true, retryAfter: q.retryAfter()}
	case <-st.client.Done():
		err = fmt.Errorf("waiting for a member: %w", context.Cause(st.client))
	}
	if err != nil {
		q.mu.Lock()
		if !w.done {
			q.removeLocked(w)
			q.mu.Unlock()
			if !errors.Is(err, context.Canceled) {
				q.timeouts.Add(1)
			}
			return err
		}
		q.mu.Unlock()
		// Decided meanwhile: a slot taken for a client that left goes
		// back; a timed-out request that was just served proceeds.
		if w.got != nil && st.clientGone() {
			b.release(w.got)
			return err
		}
	}
	if w.got != nil {
		st.cur = w.got
		if w.want == nil || st.dec.Index != w.gotIndex {
			ms := st.set.table.Members()
			st.dec = routing.Decision{Index: w.gotIndex, Member: &ms[w.gotIndex], Reason: routing.ReasonBalanced}
		}
	}
	return nil
}

// queueStatus is the queue's part of the status page.
func (q *waitQueue) status() (waiting int64, queued, timeouts, refused uint64) {
	if q == nil {
		return 0, 0, 0, 0
	}
	return q.waiting.Load(), q.queued.Load(), q.timeouts.Load(), q.refused.Load()
}

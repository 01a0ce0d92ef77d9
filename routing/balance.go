package routing

import "math/bits"

// Balancing: the choice for requests without a usable session. Candidates
// are the members usable for new requests (healthy and active) that the
// request has not tried yet; weights are mod_jk's lbfactor.

// Keyed reports whether p hashes Request.Key (uri_hash, header, query):
// the caller must fill it in.
func (p Policy) Keyed() bool { return p == URIHash || p == HeaderHash || p == QueryHash }

// balance picks a member for a request without a usable session.
func (t *Table) balance(req *Request) (Decision, error) {
	i := t.byPolicy(req, t.opts.Policy)
	if i >= 0 && t.opts.Policy.ramps() && ramping(t.members[i].Load) {
		i = t.slowStart(req, i)
	}
	if i < 0 {
		if t.busy(req) {
			return Decision{Index: -1}, ErrBusy
		}
		return Decision{Index: -1}, ErrNoMember
	}
	return t.decide(i, ReasonBalanced, ""), nil
}

// ramps reports whether slow start applies to p: the policies that spread
// load. The hash policies keep a key on its member, and first is an order.
func (p Policy) ramps() bool {
	switch p {
	case RoundRobin, Random:
		return true
	}
	return false // the policies that compare loads ramp through leastWeight
}

// leastWeight is member i's weight as least, p2c and random_choose compare
// it, in thousandths:
// while it warms up (slow start), Ramp thousandths of its weight, so that
// its requests count for more and it gets that share. (Turning it down
// at random, as the other policies do, would not do: it would stay the
// least loaded and be asked again until it said yes.)
func (t *Table) leastWeight(i int) uint64 {
	if l := t.members[i].Load; ramping(l) {
		return t.weights[i] * uint64(l.Ramp.Load())
	}
	return t.weights[i] * 1000
}

func ramping(l *Load) bool {
	r := l.Ramp.Load()
	return r != 0 && r < 1000
}

// slowStart keeps member first, which the policy picked, with probability
// Ramp/1000; otherwise it asks the policy again without it, and so on
// for members warming up in turn. When every candidate turned the request
// down it goes to the first pick: a warming member is better than none.
func (t *Table) slowStart(req *Request, first int) int {
	draw := *req
	i := first
	for k := range len(t.members) {
		l := t.members[i].Load
		if !ramping(l) || scale(mix(req.Rand+uint64(k+1)*0x9e3779b97f4a7c15), 1000) < uint64(l.Ramp.Load()) || i >= 64 {
			return i
		}
		draw.Exclude |= 1 << uint(i)
		if i = t.byPolicy(&draw, t.opts.Policy); i < 0 {
			return first
		}
	}
	return i
}

// busy reports whether some member could take req but for its MaxConns.
func (t *Table) busy(req *Request) bool {
	for i := range t.members {
		if !excluded(req, i) && t.usableNew(i) && t.full(i) {
			return true
		}
	}
	return false
}

// full reports whether member i is at its MaxConns.
func (t *Table) full(i int) bool {
	lim := t.limits[i]
	return lim > 0 && t.members[i].Load.InFlight.Load() >= lim
}

// Candidate reports whether member i may take the new request req now:
// usable for new requests, not tried by it, and below its MaxConns.
func (t *Table) Candidate(req *Request, i int) bool {
	return i >= 0 && i < len(t.members) && t.candidate(req, i)
}

// Usable reports whether member i may take the new request req once it
// has room below its MaxConns.
func (t *Table) Usable(req *Request, i int) bool {
	return i >= 0 && i < len(t.members) && !excluded(req, i) && t.usableNew(i)
}

// byPolicy returns the candidate policy p picks for req, or -1.
func (t *Table) byPolicy(req *Request, p Policy) int {
	i := -1
	switch p {
	case RoundRobin:
		i = t.roundRobin(req)
	case LeastRequests:
		i = t.least(req, false)
	case LeastBusy:
		i = t.least(req, true)
	case Random:
		if w, _, _ := t.newWeight(req); w > 0 {
			i = t.weightedAt(req, scale(req.Rand, w), -1)
		}
	case IPHash:
		i = t.rendezvous(req, keyHash(req.ClientAddr), -1)
	case URIHash, HeaderHash, QueryHash:
		if req.Key == "" {
			// Fallback is never keyed (NewTable checks), so this
			// recursion ends.
			return t.byPolicy(req, t.opts.Fallback)
		}
		i = t.rendezvous(req, keyHash(req.Key), -1)
	case First:
		for k := range t.members {
			if t.candidate(req, k) {
				return k
			}
		}
	case P2C:
		i = t.p2c(req)
	case RandomChoose:
		i = t.randomChoose(req, max(t.opts.Choose, 2))
	}
	return i
}

// candidate reports whether member i may take this new request.
func (t *Table) candidate(req *Request, i int) bool {
	return !excluded(req, i) && t.usableNew(i) && !t.full(i)
}

// roundRobin walks the precomputed smooth weighted schedule of the active
// members with the shared cursor. A member that cannot take the request
// (down, or already tried) gives up its turn and the request takes the
// next turn of the cursor, so its share spreads over the others by their
// weights, as mod_jk spreads a failed member's (handing its turns to the
// member after it in the schedule would double that one's share: 20
// against 10 new sessions with three members). After as many skipped turns
// as there are members, the rest of the schedule is walked from there.
func (t *Table) roundRobin(req *Request) int {
	n := uint64(len(t.schedule))
	if n == 0 {
		return -1
	}
	c := t.cursor.Add(1) - 1
	if i := int(t.schedule[c%n]); t.candidate(req, i) {
		return i
	}
	if w, _, _ := t.newWeight(req); w == 0 {
		return -1 // nothing to find: do not walk the whole schedule
	}
	for range len(t.members) {
		c = t.cursor.Add(1) - 1
		if i := int(t.schedule[c%n]); t.candidate(req, i) {
			return i
		}
	}
	for k := uint64(1); k < n; k++ {
		if i := int(t.schedule[(c+k)%n]); t.candidate(req, i) {
			return i
		}
	}
	return -1 // the last candidate went away meanwhile
}

// least returns the candidate with the fewest requests (busy false, mod_jk
// method R) or in-flight requests (busy true, method B) per unit of weight.
// The scan starts after the member chosen last and keeps the first of
// equals, so ties are shared out in turn, also around a member that cannot
// take new requests (mod_jk's next_offset; a blind rotation would give the
// member after a disabled one two turns of three).
func (t *Table) least(req *Request, busy bool) int {
	n := len(t.members)
	if n == 0 {
		return -1
	}
	off := int(t.cursor.Load() % uint64(n))
	best := -1
	var bv, bw uint64
	for k := range n {
		i := off + k
		if i >= n {
			i -= n
		}
		if !t.candidate(req, i) {
			continue
		}
		v, w := t.load(i, busy), t.leastWeight(i)
		if best < 0 || lessRatio(v, w, bv, bw) {
			best, bv, bw = i, v, w
		}
	}
	if best >= 0 {
		t.cursor.Store(uint64(best + 1))
	}
	return best
}

// load returns member i's in-flight (busy) or lifetime request count.
func (t *Table) load(i int, busy bool) uint64 {
	l := t.members[i].Load
	if busy {
		return uint64(max(l.InFlight.Load(), 0))
	}
	return l.Requests.Load()
}

// p2c draws two distinct candidates at random, each in proportion to its
// weight, and returns the one with fewer in-flight requests per unit of
// weight (the first drawn on a tie).
func (t *Table) p2c(req *Request) int {
	w, count, only := t.newWeight(req)
	switch count {
	case 0:
		return -1
	case 1:
		return only
	}
	a := t.weightedAt(req, scale(req.Rand, w), -1)
	if a < 0 {
		return -1
	}
	if w <= t.weights[a] {
		return a // the others left meanwhile
	}
	b := t.weightedAt(req, scale(mix(req.Rand^0x9e3779b97f4a7c15), w-t.weights[a]), a)
	if b < 0 {
		return a
	}
	if lessRatio(t.load(b, true), t.leastWeight(b), t.load(a, true), t.leastWeight(a)) {
		return b
	}
	return a
}

// randomChoose draws k candidates at random, each in proportion to its
// weight and without drawing a member twice (among the first 64), and
// returns the one with the fewest in-flight requests per unit of weight
// (the first drawn on a tie): Caddy's random_choose, of which p2c is k=2.
func (t *Table) randomChoose(req *Request, k int) int {
	w, count, only := t.newWeight(req)
	switch count {
	case 0:
		return -1
	case 1:
		return only
	}
	// Drawn members are excluded from the later draws through a copy of
	// the request's exclusions (members past 63 may be drawn twice).
	draw := *req
	best := -1
	r := req.Rand
	for range min(k, count) {
		if w == 0 {
			break
		}
		i := t.weightedAt(&draw, scale(r, w), -1)
		if i < 0 {
			break
		}
		if best < 0 || lessRatio(t.load(i, true), t.leastWeight(i), t.load(best, true), t.leastWeight(best)) {
			best = i
		}
		if i < 64 {
			draw.Exclude |= 1 << uint(i)
			w -= min(w, t.weights[i])
		}
		r = mix(r + 0x9e3779b97f4a7c15)
	}
	return best
}

// newWeight returns the total weight and number of the candidates, and the
// last candidate seen (-1 if none).
func (t *Table) newWeight(req *Request) (total uint64, count, last int) {
	last = -1
	for i := range t.members {
		if t.candidate(req, i) {
			total += t.weights[i]
			count++
			last = i
		}
	}
	return total, count, last
}

// weightedAt returns the candidate (other than skip) whose span of weight
// holds x, counting from the first member. If candidates went away since
// the total was taken and x falls past the end, it returns the last
// candidate seen; -1 if there is none.
func (t *Table) weightedAt(req *Request, x uint64, skip int) int {
	last := -1
	for i := range t.members {
		if i == skip || !t.candidate(req, i) {
			continue
		}
		if x < t.weights[i] {
			return i
		}
		x -= t.weights[i]
		last = i
	}
	return last
}

// scale maps a uniform 64-bit r to [0, n) (Lemire's multiply-shift).
func scale(r, n uint64) uint64 {
	hi, _ := bits.Mul64(r, n)
	return hi
}

// lessRatio reports whether a/wa < b/wb, exactly, for weights >= 1.
func lessRatio(a, wa, b, wb uint64) bool {
	xhi, xlo := bits.Mul64(a, wb)
	yhi, ylo := bits.Mul64(b, wa)
	return xhi < yhi || xhi == yhi && xlo < ylo
}

// smoothSchedule returns the smooth weighted round-robin order (nginx's
// algorithm) of members with the given weights: each member appears in
// proportion to its weight and as evenly spread as possible ({5,1,1} gives
// a a b a c a a, not a a a a a b c). Weights are divided by their greatest
// common divisor and, if they still sum to more than maxSchedule, scaled
// down (every member keeps at least one turn). A member of weight 0 gets no
// turn; nil when every weight is 0.
func smoothSchedule(weights []uint64) []int32 {
	if len(weights) == 0 {
		return nil
	}
	var g uint64
	for _, w := range weights {
		g = gcd(g, w)
	}
	if g == 0 {
		return nil
	}
	ws := make([]int64, len(weights))
	var total uint64
	for i, w := range weights {
		ws[i] = int64(w / g)
		total += w / g
	}
	if total > maxSchedule {
		sum := total
		total = 0
		for i := range ws {
			if ws[i] == 0 {
				continue
			}
			hi, lo := bits.Mul64(uint64(ws[i]), maxSchedule)
			q, _ := bits.Div64(hi, lo, sum)
			ws[i] = int64(max(q, 1))
			total += uint64(ws[i])
		}
	}
	cur := make([]int64, len(ws))
	sched := make([]int32, 0, total)
	for range total {
		best := 0
		for i, w := range ws {
			cur[i] += w
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= int64(total)
		sched = append(sched, int32(best))
	}
	return sched
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

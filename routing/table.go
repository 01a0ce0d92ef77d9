package routing

import (
	"errors"
	"math/bits"
	"strconv"
	"sync/atomic"
)

// Errors returned by NewTable, wrapped in a *MemberError (or returned as is
// for ErrBadPolicy).
var (
	ErrEmptyName       = errors.New("empty member name")
	ErrDuplicateName   = errors.New("duplicate member name")
	ErrBadWeight       = errors.New("weight must be between 1 and 1000000")
	ErrUnknownRedirect = errors.New("redirect names no member")
	ErrBadState        = errors.New("unknown member state")
	ErrBadPolicy       = errors.New("unknown balancing policy")
)

// MemberError is a NewTable error about one member.
type MemberError struct {
	Index int    // position in the members given to NewTable
	Name  string // the member's name, possibly ""
	Err   error  // one of the ErrX sentinels above
}

func (e *MemberError) Error() string {
	return "member " + strconv.Itoa(e.Index) + " " + strconv.Quote(e.Name) + ": " + e.Err.Error()
}

func (e *MemberError) Unwrap() error { return e.Err }

// MaxWeight is the largest member weight NewTable accepts (mod_jk's
// lbfactor values are small integers; the bound keeps weight sums far from
// overflow).
const MaxWeight = 1_000_000

// maxSchedule bounds the round-robin schedule (entries of 4 bytes). Tables
// whose reduced weights sum to more get proportionally scaled weights.
const maxSchedule = 1 << 14

// Table is an immutable routing snapshot of one balancer's members: it
// finds sessions and picks members. All methods are safe for concurrent use
// and do not allocate. The proxy builds a new Table when members, states or
// weights change and swaps it in with an atomic.Pointer; health and load
// live in each Member's *Load, which successive Tables share.
type Table struct {
	members  []Member
	opts     Options
	index    map[string]int   // member name → index
	domains  map[string]int32 // domain → domain id
	domainOf []int32          // member index → domain id, -1 for none
	redirect []int            // member index → redirect member index, -1 for none
	hashes   []uint64         // member index → nameHash(name)
	weights  []uint64         // member index → weight
	limits   []int64          // member index → MaxConns (0: none)
	schedule []int32          // smooth weighted round-robin order of the active members' indexes

	_      [64]byte // keep the cursor, written by every balanced pick, on its own cache line
	cursor atomic.Uint64
	_      [56]byte
}

// NewTable validates members and returns a Table of copies of them. Names
// must be unique and non-empty, weights between 1 and MaxWeight, states and the policy
// known, and a Redirect must name a member (or be ""). A member whose Load
// is nil gets a new one, healthy, whose request count starts even with the
// others' (see CatchUp). The caller must not change members' Loads' owners
// afterwards; the Table never writes a Load except that way.
func NewTable(members []Member, opts Options) (*Table, error) {
	if opts.Policy > lastPolicy || opts.Fallback > lastPolicy || opts.Fallback.Keyed() || opts.Choose < 0 || opts.Choose == 1 {
		return nil, ErrBadPolicy
	}
	n := len(members)
	t := &Table{
		members:  make([]Member, n),
		opts:     opts,
		index:    make(map[string]int, n),
		domains:  make(map[string]int32),
		domainOf: make([]int32, n),
		redirect: make([]int, n),
		hashes:   make([]uint64, n),
		weights:  make([]uint64, n),
		limits:   make([]int64, n),
	}
	copy(t.members, members)
	for i := range t.members {
		m := &t.members[i]
		switch {
		case m.Name == "":
			return nil, &MemberError{Index: i, Err: ErrEmptyName}
		case m.Weight < 1 || m.Weight > MaxWeight:
			return nil, &MemberError{Index: i, Name: m.Name, Err: ErrBadWeight}
		case m.State > Stopped:
			return nil, &MemberError{Index: i, Name: m.Name, Err: ErrBadState}
		}
		if _, dup := t.index[m.Name]; dup {
			return nil, &MemberError{Index: i, Name: m.Name, Err: ErrDuplicateName}
		}
		t.index[m.Name] = i
		t.domainOf[i] = -1
		if m.Domain != "" {
			id, ok := t.domains[m.Domain]
			if !ok {
				id = int32(len(t.domains))
				t.domains[m.Domain] = id
			}
			t.domainOf[i] = id
		}
		t.hashes[i] = nameHash(m.Name)
		t.weights[i] = uint64(m.Weight)
		t.limits[i] = max(m.MaxConns, 0)
	}
	for i := range t.members {
		m := &t.members[i]
		t.redirect[i] = -1
		if m.Redirect != "" {
			r, ok := t.index[m.Redirect]
			if !ok {
				return nil, &MemberError{Index: i, Name: m.Name, Err: ErrUnknownRedirect}
			}
			t.redirect[i] = r
		}
	}
	var fresh []int
	for i := range t.members {
		if t.members[i].Load == nil {
			l := new(Load)
			l.Healthy.Store(true)
			t.members[i].Load = l
			fresh = append(fresh, i)
		}
	}
	for _, i := range fresh {
		t.CatchUp(i)
	}
	// Only active members take turns: a disabled or stopped member's turns
	// would otherwise fall to whoever follows it (see roundRobin).
	active := make([]uint64, n)
	for i := range t.members {
		if t.members[i].State == Active {
			active[i] = t.weights[i]
		}
	}
	t.schedule = smoothSchedule(active)
	return t, nil
}

// Members returns the table's members, in the order given to NewTable
// (Decision.Index and Request.Exclude bits index it). The slice is the
// table's own: read it, never modify it.
func (t *Table) Members() []Member { return t.members }

// Len returns the number of members.
func (t *Table) Len() int { return len(t.members) }

// Options returns the options the table was built with.
func (t *Table) Options() Options { return t.opts }

// Index returns the index of the member named name.
func (t *Table) Index(name string) (int, bool) {
	i, ok := t.index[name]
	return i, ok
}

// CatchUp raises member i's request count to the highest weighted count of
// the other members (mod_jk resets a recovered worker's lb_value the same
// way), so that least_requests does not send it every new request until it
// has caught up with members that served for hours. NewTable does it for
// the Loads it creates; the proxy calls it when a member recovers or joins
// with a Load of its own. It never lowers the count.
func (t *Table) CatchUp(i int) {
	if i < 0 || i >= len(t.members) {
		return
	}
	var top uint64 // highest Requests×w_i/w_j among the others
	for j := range t.members {
		if j == i {
			continue
		}
		hi, lo := bits.Mul64(t.members[j].Load.Requests.Load(), t.weights[i])
		var q uint64
		if hi >= t.weights[j] {
			q = ^uint64(0)
		} else {
			q, _ = bits.Div64(hi, lo, t.weights[j])
		}
		top = max(top, q)
	}
	r := &t.members[i].Load.Requests
	for {
		cur := r.Load()
		if cur >= top || r.CompareAndSwap(cur, top) {
			return
		}
	}
}

// usableSticky reports whether member i may take requests of its own
// sessions: healthy and not stopped (disabled is fine).
func (t *Table) usableSticky(i int) bool {
	m := &t.members[i]
	return m.State != Stopped && m.Load.Healthy.Load()
}

// usableNew reports whether member i may take new requests: healthy and
// active.
func (t *Table) usableNew(i int) bool {
	m := &t.members[i]
	return m.State == Active && m.Load.Healthy.Load()
}

// excluded reports whether req has already tried member i.
func excluded(req *Request, i int) bool {
	return i < 64 && req.Exclude&(1<<uint(i)) != 0
}

// Pick chooses the member for req (docs/routing.md):
//
//  1. req.Pin, if that member is usable for sticky requests: ReasonSticky.
//  2. With a session whose route names a member: that member if usable for
//     sticky requests (ReasonSticky). Otherwise ErrStickyForced under
//     Options.StickyForce; else its Redirect if usable for sticky requests
//     (a disabled hot standby counts; ReasonRedirect); else a member of its
//     Domain usable for new requests (ReasonDomain); else any member usable
//     for new requests (ReasonFailover). Among several, the rendezvous hash
//     of the full session id decides, weighted, so every instance agrees.
//  3. With a session whose route names no member but whose prefix names a
//     domain: a usable-for-new member of that domain (ReasonDomain), else as
//     in 2 (ErrStickyForced, or any member, ReasonFailover).
//  4. Otherwise (no session, unknown route): the balancing policy
//     (ReasonBalanced).
//
// Members marked in req.Exclude are skipped at every step. ErrNoMember
// means nothing is left. Balancing (4) passes by members at their
// MaxConns, and says ErrBusy when only those are left; a session's own
// member (1, 2) is picked whether full or not: the caller waits for it.
// Failovers (2, 3) ignore MaxConns, so every instance agrees on them. Decision.From names the session's member (or its
// route, in case 3) for the failover reasons. Pick does not allocate, and
// never changes counters: the proxy counts the request it sends.
func (t *Table) Pick(req *Request) (Decision, error) {
	if req.Pin != "" {
		if i, ok := t.index[req.Pin]; ok && !excluded(req, i) && t.usableSticky(i) {
			return t.decide(i, ReasonSticky, ""), nil
		}
	}
	if req.HasSession {
		route := req.Session.Route
		if i, ok := t.index[route]; ok {
			if !excluded(req, i) && t.usableSticky(i) {
				return t.decide(i, ReasonSticky, ""), nil
			}
			if t.opts.StickyForce {
				return Decision{Index: -1}, ErrStickyForced
			}
			return t.failover(req, i)
		}
		if d, ok := t.domains[routePrefix(route)]; ok {
			kh := sessionHash(req.Session)
			if j := t.rendezvous(req, kh, d); j >= 0 {
				return t.decide(j, ReasonDomain, route), nil
			}
			if t.opts.StickyForce {
				return Decision{Index: -1}, ErrStickyForced
			}
			if j := t.rendezvous(req, kh, -1); j >= 0 {
				return t.decide(j, ReasonFailover, route), nil
			}
			return Decision{Index: -1}, ErrNoMember
		}
	}
	return t.balance(req)
}

// failover chooses a new member for a session of member i, which is
// unusable or excluded.
func (t *Table) failover(req *Request, i int) (Decision, error) {
	from := t.members[i].Name
	if r := t.redirect[i]; r >= 0 && r != i && !excluded(req, r) && t.usableSticky(r) {
		return t.decide(r, ReasonRedirect, from), nil
	}
	kh := sessionHash(req.Session)
	if d := t.domainOf[i]; d >= 0 {
		if j := t.rendezvous(req, kh, d); j >= 0 {
			return t.decide(j, ReasonDomain, from), nil
		}
	}
	if j := t.rendezvous(req, kh, -1); j >= 0 {
		return t.decide(j, ReasonFailover, from), nil
	}
	return Decision{Index: -1}, ErrNoMember
}

// rendezvous returns the member, usable for new requests and not excluded,
// that key hash kh maps to, among the members of domain id d (all members
// if d < 0); -1 if there is none.
func (t *Table) rendezvous(req *Request, kh uint64, d int32) int {
	best := -1
	var b rvCand
	for i := range t.members {
		if d >= 0 && t.domainOf[i] != d {
			continue
		}
		if excluded(req, i) || !t.usableNew(i) {
			continue
		}
		c := rvCand{h: pairHash(kh, t.hashes[i]), w: t.weights[i], name: t.members[i].Name}
		if best < 0 || c.beats(&b) {
			best, b = i, c
		}
	}
	return best
}

func (t *Table) decide(i int, r Reason, from string) Decision {
	return Decision{Index: i, Member: &t.members[i], Reason: r, From: from}
}

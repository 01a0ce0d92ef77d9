package routing

// This file is the API contract that proxy/ builds on. The implementation
// lives beside it (session.go, table.go, balance.go, ...).

import (
	"errors"
	"sync/atomic"
)

// State is an operator-set member state (mod_jk activation).
type State uint8

const (
	// Active members take new and sticky requests.
	Active State = iota
	// Disabled members take only requests of their existing sessions.
	Disabled
	// Stopped members take nothing; their sessions fail over.
	Stopped
)

// Policy is a balancing method for requests without a usable session.
type Policy uint8

const (
	RoundRobin    Policy = iota // weighted smooth round robin
	LeastRequests               // mod_jk method R: fewest requests ÷ weight
	LeastBusy                   // mod_jk method B: fewest in flight ÷ weight
	P2C                         // power of two random choices on in-flight
	Random                      // weighted random
	IPHash                      // rendezvous hash of the client address
	First                       // the first usable member in config order (Caddy's first)
	URIHash                     // rendezvous hash of Request.Key, the request URI (Caddy's uri_hash)
	HeaderHash                  // rendezvous hash of Request.Key, a header's value (Caddy's header)
	QueryHash                   // rendezvous hash of Request.Key, a query parameter's values (Caddy's query)
	RandomChoose                // Options.Choose random candidates, the least busy of them (Caddy's random_choose)
)

// lastPolicy is the highest Policy NewTable accepts.
const lastPolicy = RandomChoose

// Errors returned by Table.Pick.
var (
	// ErrNoMember means no member is usable for the request.
	ErrNoMember = errors.New("no usable member")
	// ErrStickyForced means the session's member is unusable and the
	// balancer has sticky_force on: answer 503, do not fail over.
	ErrStickyForced = errors.New("session member unusable and sticky_force is on")
	// ErrBusy means members could take the request but every one is at
	// its MaxConns: the caller may wait for one (Table.Candidate says
	// which may take it once one is free).
	ErrBusy = errors.New("every usable member is at its max_conns")
)

// Member is one routing member: its identity and operator settings. Health
// and load are in Load, which the proxy updates and the table only reads.
type Member struct {
	Name     string // the route (jvmRoute) compared with session suffixes
	Domain   string
	Redirect string // name of the preferred failover member
	Weight   int    // >= 1
	State    State
	Load     *Load // never nil in a Table
	// MaxConns is the most requests in flight (Load.InFlight) the member
	// takes: at it, balancing passes it by (a session's own member is
	// still picked: the caller waits for it). 0: no limit.
	MaxConns int64
}

// Load holds a member's live counters, shared between successive Tables so a
// rebuild loses nothing. All fields are atomics written by the proxy.
type Load struct {
	Healthy  atomic.Bool   // false while a health check or passive failure holds it out
	InFlight atomic.Int64  // requests in progress
	Requests atomic.Uint64 // requests ever sent (least_requests)
	// Ramp is the member's share of new sessions while it warms up (slow
	// start), in thousandths: 1..999 of the share its weight gives, 0 (or
	// 1000 and up) the full share. Balancing turns the member down with
	// probability 1 - Ramp/1000 (its turn goes to the others); a session's
	// requests and failovers are not affected.
	Ramp atomic.Uint32
}

// Request is what Pick decides on. Build it without allocating.
type Request struct {
	// Session is the parsed session id; HasSession false when there is none
	// (or none with a route, in jvmroute mode).
	Session    SessionID
	HasSession bool
	// Pin is a member name recorded for this session elsewhere (a replicated
	// failover pin or a learned session); it takes precedence over the
	// session's route when that member is usable. "" when none.
	Pin string
	// ClientAddr is the client's address, for ip_hash (any stable string).
	ClientAddr string
	// Key is what the key-hash policies (URIHash, HeaderHash, QueryHash)
	// hash: the request URI, a header's or a query parameter's value. An
	// empty Key is balanced by Options.Fallback instead.
	Key string
	// Rand is a random value supplied by the caller, for random and p2c
	// (routing reads no global random source, so tests are deterministic).
	Rand uint64
	// Exclude marks member indexes already tried by this request (retries);
	// bit i excludes Members()[i]. Members past 63 cannot be excluded.
	Exclude uint64
}

// Reason says why Pick chose a member.
type Reason uint8

const (
	ReasonBalanced Reason = iota // no session (or unknown route): chosen by the policy
	ReasonSticky                 // the session's own member (or its pin)
	ReasonRedirect               // failover to the member's redirect
	ReasonDomain                 // failover within the member's domain
	ReasonFailover               // failover to any usable member
)

// Decision is Pick's answer.
type Decision struct {
	Index  int // index into Table.Members()
	Member *Member
	Reason Reason
	// From is the member the session belonged to when Reason is a failover
	// (redirect, domain, any); "" otherwise.
	From string
}

// SessionID is a session id split at its first '.': ID before, Route after
// (mod_jk's strchr rule: "ABC.DEF.tomcat1" has route "DEF.tomcat1").
type SessionID struct {
	ID    string
	Route string
}

// SessionNames are where a session id is read from.
type SessionNames struct {
	Cookie    string // default JSESSIONID
	PathParam string // default jsessionid
}

// Options configure a Table.
type Options struct {
	Policy      Policy
	StickyForce bool
	// Fallback balances the requests a key-hash policy has no key for
	// (Request.Key empty; Caddy's fallback, random by default there). It
	// must not itself need a key; the zero value is RoundRobin.
	Fallback Policy
	// Choose is how many candidates RandomChoose draws (2 and up; 0 means
	// 2, which is P2C).
	Choose int
}

// The rest of the contract, implemented beside this file:
//
//	func ParseSessionID(raw string) (SessionID, bool)
//	func (s SessionID) String() string
//	func PathParam(path, name string) (string, bool)          // ";name=value", ends at ; / ? or end
//	type CookieScanner                                        // zero-alloc iteration over Cookie header values
//	func NewTable(members []Member, opts Options) (*Table, error)
//	func (t *Table) Members() []Member
//	func (t *Table) Index(name string) (int, bool)
//	func (t *Table) FindSession(path string, cookieHeaders []string, n SessionNames) (SessionID, bool)
//	func FirstSession(path string, cookieHeaders []string, n SessionNames) (string, bool)
//	func (t *Table) Pick(req *Request) (Decision, error)
//	func (t *Table) Candidate(req *Request, i int) bool       // may member i take req now (MaxConns included)
//	func (t *Table) Usable(req *Request, i int) bool          // may it take req once it has room
//	func Rendezvous(key string, candidates ...Candidate) int  // deterministic across processes
//
// Added beside the contract: NewCookieScanner and CookieScanner.Next,
// DefaultSessionNames, Table.Len, Table.Options, Table.CatchUp, MaxWeight,
// MemberError and the NewTable error sentinels, State/Policy/Reason String,
// ParseState and ParsePolicy.

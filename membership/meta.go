package membership

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/hashicorp/memberlist"
)

// MaxMetaSize is the largest encoded Meta memberlist accepts (its
// MetaMaxSize). memberlist panics on anything longer, so EncodeMeta refuses
// it with ErrMetaTooLarge instead.
const MaxMetaSize = memberlist.MetaMaxSize

// metaFormat is the first byte of every encoded Meta. Decoders ignore bytes
// after the last field they know, so a later release may append fields
// without changing it; an incompatible layout gets a new format byte.
const metaFormat = 1

// Errors returned by EncodeMeta, DecodeMeta and SetMeta.
var (
	// ErrMetaTooLarge means the encoded Meta exceeds MaxMetaSize bytes.
	ErrMetaTooLarge = errors.New("node metadata exceeds 512 bytes")
	// ErrMetaFormat means encoded metadata is truncated, malformed or of an
	// unknown format.
	ErrMetaFormat = errors.New("malformed node metadata")
)

// Role says what a member is: a Tether proxy or a backend announced by
// `tether agent`.
type Role uint8

// Roles. The zero Role is invalid in metadata, so a forgotten field is caught
// by Validate.
const (
	RoleUnknown Role = iota
	RoleProxy
	RoleBackend
)

var roleNames = [...]string{RoleUnknown: "unknown", RoleProxy: "proxy", RoleBackend: "backend"}

// String returns the role's config name, or "role(N)" for an unknown value.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// ParseRole parses "proxy" or "backend".
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames {
		if i != int(RoleUnknown) && n == s {
			return Role(i), nil
		}
	}
	return RoleUnknown, fmt.Errorf("unknown role %q (want proxy or backend)", s)
}

// State is a member's administrative state, as in mod_jk's activation plus
// draining.
type State uint8

// States. The zero value is StateActive so that a backend that sets nothing
// takes traffic.
const (
	// StateActive takes new and sticky requests.
	StateActive State = iota
	// StateDisabled takes only requests of its existing sessions.
	StateDisabled
	// StateStopped takes nothing.
	StateStopped
	// StateDraining is shutting down: it finishes what it has and takes
	// nothing new, including sticky requests whose session can move.
	StateDraining
)

var stateNames = [...]string{StateActive: "active", StateDisabled: "disabled", StateStopped: "stopped", StateDraining: "draining"}

// String returns the state's config name, or "state(N)" for an unknown value.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// ParseState parses active, disabled, stopped or draining.
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if n == s {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("unknown state %q (want active, disabled, stopped or draining)", s)
}

// Meta is the metadata a member gossips about itself (memberlist's node
// meta). It travels in every alive message, so it must stay small: the
// encoding, EncodeMeta, is limited to MaxMetaSize bytes.
type Meta struct {
	// Role is proxy or backend. Required.
	Role Role
	// Cluster is the cluster name the member was configured with.
	Cluster string
	// Service is the name of the backend pool a backend belongs to
	// (`discover cluster app`); empty for proxies.
	Service string
	// Route is the jvmRoute of a backend ([A-Za-z0-9_-]{1,64}); empty when
	// the member has none.
	Route string
	// URL is where a backend serves (http://…, ajp://…).
	URL string
	// Domain is the replication group of a backend (mod_jk domain).
	Domain string
	// Weight is the balancing weight (mod_jk lbfactor); 0 means the default, 1.
	Weight uint32
	// State is the administrative state.
	State State
	// Healthy is the member's own health verdict (a backend agent's probe).
	Healthy bool
	// Version counts this member's metadata changes. SetMeta assigns it (the
	// caller's value is ignored), so a receiver can tell a newer Meta from an
	// older one.
	Version uint64
	// Addr is the host:port of a proxy's own side channel (replication,
	// admin); empty when there is none.
	Addr string
	// Build is the software version the member runs (informational).
	Build string
	// BalancerDigest is a proxy's digest of its balancers: their names and
	// their members' names, what the proxies of a cluster share sessions,
	// pins and member states by. A proxy compares it with its own to see at
	// once that a peer's balancers differ. 0 means not reported (a backend,
	// or a proxy of a release without the field).
	BalancerDigest uint64
}

// maxField bounds each string field; the 512-byte total is checked after
// encoding.
const maxField = 255

// Validate checks the fields that have a fixed form. It does not check the
// encoded size; EncodeMeta does.
func (m Meta) Validate() error {
	if m.Role != RoleProxy && m.Role != RoleBackend {
		return fmt.Errorf("meta role %v: want proxy or backend", m.Role)
	}
	if int(m.State) >= len(stateNames) {
		return fmt.Errorf("meta state %v is unknown", m.State)
	}
	if m.Route != "" && !validRoute(m.Route) {
		return fmt.Errorf("meta route %q: want [A-Za-z0-9_-]{1,64}", m.Route)
	}
	for _, f := range []struct{ name, v string }{
		{"cluster", m.Cluster}, {"service", m.Service}, {"url", m.URL},
		{"domain", m.Domain}, {"addr", m.Addr}, {"build", m.Build},
	} {
		if len(f.v) > maxField {
			return fmt.Errorf("meta %s is %d bytes, over %d", f.name, len(f.v), maxField)
		}
	}
	return nil
}

func validRoute(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Flags of the encoded Meta's fourth byte. Decoders ignore bits they do
// not know.
const (
	flagHealthy   = 1 << 0
	flagBalancers = 1 << 1 // an 8-byte BalancerDigest follows build
)

// EncodeMeta validates m and encodes it compactly:
//
//	format(1) role(1) state(1) flags(1) uvarint(weight) uvarint(version)
//	then cluster, service, route, url, domain, addr, build as uvarint length + bytes
//	then, when flags has flagBalancers, BalancerDigest as 8 bytes big-endian
//
// Fields are only ever appended, after build: an older decoder, which
// ignores trailing bytes and unknown flags, reads the fields it knows.
// It returns ErrMetaTooLarge (wrapped) when the result exceeds MaxMetaSize.
func EncodeMeta(m Meta) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b := m.appendTo(make([]byte, 0, 64))
	if len(b) > MaxMetaSize {
		return nil, fmt.Errorf("%w: encoded %d bytes", ErrMetaTooLarge, len(b))
	}
	return b, nil
}

func (m Meta) appendTo(b []byte) []byte {
	var flags byte
	if m.Healthy {
		flags |= flagHealthy
	}
	if m.BalancerDigest != 0 {
		flags |= flagBalancers
	}
	b = append(b, metaFormat, byte(m.Role), byte(m.State), flags)
	b = binary.AppendUvarint(b, uint64(m.Weight))
	b = binary.AppendUvarint(b, m.Version)
	for _, s := range [...]string{m.Cluster, m.Service, m.Route, m.URL, m.Domain, m.Addr, m.Build} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if m.BalancerDigest != 0 {
		b = binary.BigEndian.AppendUint64(b, m.BalancerDigest)
	}
	return b
}

// DecodeMeta decodes metadata written by EncodeMeta. It never panics on
// hostile input: anything malformed returns an error wrapping ErrMetaFormat.
// Bytes after the known fields are ignored (room for later fields).
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) > MaxMetaSize {
		return m, fmt.Errorf("%w: %d bytes", ErrMetaTooLarge, len(b))
	}
	if len(b) < 4 {
		return m, fmt.Errorf("%w: %d bytes, too short", ErrMetaFormat, len(b))
	}
	if b[0] != metaFormat {
		return m, fmt.Errorf("%w: format %d", ErrMetaFormat, b[0])
	}
	m.Role, m.State, m.Healthy = Role(b[1]), State(b[2]), b[3]&flagHealthy != 0
	flags := b[3]
	b = b[4:]
	w, n := binary.Uvarint(b)
	if n <= 0 || w > 1<<32-1 {
		return Meta{}, fmt.Errorf("%w: weight", ErrMetaFormat)
	}
	m.Weight, b = uint32(w), b[n:]
	m.Version, n = binary.Uvarint(b)
	if n <= 0 {
		return Meta{}, fmt.Errorf("%w: version", ErrMetaFormat)
	}
	b = b[n:]
	for _, p := range [...]*string{&m.Cluster, &m.Service, &m.Route, &m.URL, &m.Domain, &m.Addr, &m.Build} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return Meta{}, fmt.Errorf("%w: truncated string field", ErrMetaFormat)
		}
		*p = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	if flags&flagBalancers != 0 {
		if len(b) < 8 {
			return Meta{}, fmt.Errorf("%w: truncated balancer digest", ErrMetaFormat)
		}
		m.BalancerDigest = binary.BigEndian.Uint64(b)
	}
	if err := m.Validate(); err != nil {
		return Meta{}, fmt.Errorf("%w: %w", ErrMetaFormat, err)
	}
	return m, nil
}

package replication

import (
	"errors"
	"sync"
	"sync/atomic"
)

// maxNames bounds the names (balancers, routes, nodes) a table interns: ids
// are uint16 and 0 means "none".
const maxNames = 1<<16 - 1

// errTooManyNames is returned when the intern table is full.
var errTooManyNames = errors.New("too many distinct balancer, route and node names")

const nameChunk = 256

// names interns the few distinct balancer, route and node names as small
// integers, so a stored entry spends 2 bytes on each instead of a 16-byte
// string header. Lookups are lock-free: the name→id map is an immutable
// snapshot replaced on each addition (names are few and rarely new), and
// id→name reads chunks published with atomic pointers. Names are never
// removed.
type names struct {
	ids    atomic.Pointer[map[string]uint16]
	chunks [(maxNames + nameChunk) / nameChunk]atomic.Pointer[[nameChunk]string]

	// mu serializes additions.
	mu sync.Mutex
	n  int // names added; ids run 1..n
}

func newNames() *names {
	n := &names{}
	m := map[string]uint16{}
	n.ids.Store(&m)
	return n
}

// lookup returns the id of s, if interned.
func (n *names) lookup(s string) (uint16, bool) {
	id, ok := (*n.ids.Load())[s]
	return id, ok
}

// name returns the name with id, or "" for 0 or an unknown id.
func (n *names) name(id uint16) string {
	c := n.chunks[id/nameChunk].Load()
	if c == nil {
		return ""
	}
	return c[id%nameChunk]
}

// intern returns the id of s, adding it if needed.
func (n *names) intern(s string) (uint16, error) {
	if id, ok := n.lookup(s); ok {
		return id, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	old := *n.ids.Load()
	if id, ok := old[s]; ok {
		return id, nil
	}
	if n.n >= maxNames {
		return 0, errTooManyNames
	}
	n.n++
	id := uint16(n.n)
	c := n.chunks[id/nameChunk].Load()
	if c == nil {
		c = new([nameChunk]string)
	}
	// The chunk is written before the map that publishes id; readers find
	// ids only through the map or through entries stored after this returns.
	s = cloneString(s)
	cc := *c
	cc[id%nameChunk] = s
	n.chunks[id/nameChunk].Store(&cc)
	m := make(map[string]uint16, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[s] = id
	n.ids.Store(&m)
	return id, nil
}

// cloneString copies s so a stored name or key does not pin a larger string
// it was sliced from (a Cookie header, a network buffer).
func cloneString(s string) string {
	if s == "" {
		return ""
	}
	return string(append(make([]byte, 0, len(s)), s...))
}

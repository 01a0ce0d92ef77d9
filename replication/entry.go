package replication

import "time"

// Entry is one row of the session table: the member a session is pinned to
// in a balancer, or a tombstone recording that the pin was deleted.
//
// Entries are values; the strings in them are shared with the table and must
// not be modified (Go strings cannot be).
type Entry struct {
	// Balancer names the balancer (a reverse_proxy block) the session belongs
	// to.
	Balancer string
	// Key is the session key as the caller gave it (a session id, or a
	// learned cookie value). It is never logged.
	Key string
	// Route is the member the session is pinned to; empty for a tombstone.
	Route string
	// Origin is the node that wrote this Version.
	Origin string
	// Version orders writes to the same key (see Merge).
	Version Version
	// Expires is when the entry may be forgotten, with one-second
	// granularity. A live entry's expiry is extended lazily by Touch.
	Expires time.Time
	// Deleted marks a tombstone: the key was deleted at Version. Tombstones
	// are kept until Expires so that an older live copy arriving late from a
	// peer cannot resurrect the pin.
	Deleted bool
}

// Merge returns the state that results from combining two versions of the same
// (Balancer, Key). It is a pure function and a join: commutative, associative
// and idempotent, so replicas that receive the same set of entries in any
// order, any number of times, end up equal.
//
// The winner is the entry with the higher Version; on equal Versions, the
// greater Origin name; then a tombstone over a live entry; then the greater
// Route (only reachable if a node reissued a Version after a restart with its
// clock set back). The result carries the winner's Route, Origin, Version and
// Deleted, and the later of the two Expires: expiry is the session's idle
// deadline, extended by whoever saw it last, whichever write set the pin.
//
// Merging entries of different keys is a caller bug; the result then keeps
// the winner's key.
func Merge(a, b Entry) Entry {
	w := b
	if newer(a.Version, a.Origin, a.Deleted, a.Route, b.Version, b.Origin, b.Deleted, b.Route) {
		w = a
	}
	if a.Expires.After(w.Expires) {
		w.Expires = a.Expires
	}
	if b.Expires.After(w.Expires) {
		w.Expires = b.Expires
	}
	return w
}

// newer reports whether write a wins over write b (see Merge). Identical writes
// do not win over each other.
func newer(av Version, ao string, ad bool, ar string, bv Version, bo string, bd bool, br string) bool {
	if av != bv {
		return av > bv
	}
	if ao != bo {
		return ao > bo
	}
	if ad != bd {
		return ad
	}
	return ar > br
}

// MemberState is an operator's state for one member of one balancer
// ("active", "disabled", "stopped", or whatever the caller stores), set
// cluster-wide with Table.SetMemberState. Member states never expire.
type MemberState struct {
	Balancer string  `json:"balancer"`
	Member   string  `json:"member"`
	State    string  `json:"state"`
	Origin   string  `json:"origin"`
	Version  Version `json:"version"`
}

// MergeMemberState returns the winner of two versions of the same
// (Balancer, Member): the higher Version, then the greater Origin, then the
// greater State. Like Merge it is a pure, commutative, associative and
// idempotent function.
func MergeMemberState(a, b MemberState) MemberState {
	if a.Version != b.Version {
		if a.Version > b.Version {
			return a
		}
		return b
	}
	if a.Origin != b.Origin {
		if a.Origin > b.Origin {
			return a
		}
		return b
	}
	if a.State > b.State {
		return a
	}
	return b
}

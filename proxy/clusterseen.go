package proxy

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tether-proxy/tether/membership"
)

// Gone members are kept for the admin API so an operator can see who left
// and when: memberlist forgets a member once it is dead or has left, and
// gives no last-seen time of its own (issue 7).
const (
	// goneKeep is how long a member that left stays listed as gone: long
	// enough to notice on a status page refreshed every few seconds, short
	// enough that an autoscaled fleet does not fill the page.
	goneKeep = 10 * time.Minute
	// goneMax bounds the gone members kept, oldest dropped first, should
	// members churn faster than goneKeep forgets them.
	goneMax = 256
)

// clusterSeen records when this node saw each cluster member, fed with
// every membership View. It keeps the members that left for keep, with the
// time they were last seen. Safe for concurrent use. A nil *clusterSeen
// records nothing: Observe then reports the view's members as seen now.
type clusterSeen struct {
	keep time.Duration
	max  int

	// mu guards the fields below.
	mu      sync.Mutex
	epoch   uint64 // of the newest View observed
	members map[string]*seenMember
}

// seenMember is one member as the recorder knows it.
type seenMember struct {
	// Member is the member as last seen alive (its address and metadata).
	Member membership.Member
	// First is when this node saw it appear; a member that leaves and
	// comes back starts again.
	First time.Time
	// Last is when it was last seen alive: the observation time for a live
	// member, and for a gone one the time this node found it gone (it was
	// alive, as far as this node knew, until then).
	Last time.Time
	// Gone is true when the member is no longer in the View.
	Gone bool
}

func newClusterSeen(keep time.Duration, max int) *clusterSeen {
	return &clusterSeen{keep: keep, max: max, members: map[string]*seenMember{}}
}

// Observe records v as seen at now and returns every member the recorder
// knows: the live ones sorted by name, then those gone within keep, most
// recently gone first. A View older (by Epoch) than one already observed
// changes nothing, so that concurrent observers (the discovery loop and
// the admin API) cannot bring a gone member back. now must not go
// backwards between calls.
func (c *clusterSeen) Observe(v *membership.View, now time.Time) []seenMember {
	if c == nil {
		out := make([]seenMember, 0, len(v.Members))
		for _, m := range v.Members {
			out = append(out, seenMember{Member: m, First: now, Last: now})
		}
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v.Epoch >= c.epoch {
		c.applyLocked(v, now)
	}
	c.pruneLocked(now)
	return c.listLocked()
}

// applyLocked makes v's members alive at now and marks the others gone.
func (c *clusterSeen) applyLocked(v *membership.View, now time.Time) {
	c.epoch = v.Epoch
	in := make(map[string]bool, len(v.Members))
	for _, m := range v.Members {
		in[m.Name] = true
		sm, ok := c.members[m.Name]
		if !ok || sm.Gone {
			sm = &seenMember{First: now}
			c.members[m.Name] = sm
		}
		sm.Member, sm.Last = m, now
	}
	for name, sm := range c.members {
		if !in[name] && !sm.Gone {
			sm.Gone, sm.Last = true, now
		}
	}
}

// pruneLocked forgets members gone for longer than keep, and the oldest
// gone ones beyond max.
func (c *clusterSeen) pruneLocked(now time.Time) {
	var gone []*seenMember
	for name, sm := range c.members {
		if !sm.Gone {
			continue
		}
		if now.Sub(sm.Last) > c.keep {
			delete(c.members, name)
			continue
		}
		gone = append(gone, sm)
	}
	if len(gone) <= c.max {
		return
	}
	slices.SortFunc(gone, byLastSeen)
	for _, sm := range gone[c.max:] {
		delete(c.members, sm.Member.Name)
	}
}

func (c *clusterSeen) listLocked() []seenMember {
	out := make([]seenMember, 0, len(c.members))
	for _, sm := range c.members {
		out = append(out, *sm)
	}
	slices.SortFunc(out, func(a, b seenMember) int {
		switch {
		case a.Gone != b.Gone:
			if a.Gone {
				return 1
			}
			return -1
		case a.Gone:
			return byLastSeen(&a, &b)
		}
		return strings.Compare(a.Member.Name, b.Member.Name)
	})
	return out
}

// byLastSeen orders members most recently seen first, then by name.
func byLastSeen(a, b *seenMember) int {
	if c := b.Last.Compare(a.Last); c != 0 {
		return c
	}
	return strings.Compare(a.Member.Name, b.Member.Name)
}

// observeView records a membership View for the admin API's last-seen
// times. The discovery loop calls it with every View, so a member's
// departure is dated when the View without it arrives, not when someone
// next asks for the status.
func (s *Server) observeView(v *membership.View) {
	s.seen.Observe(v, time.Now())
}

package replication

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Version is a hybrid logical clock (HLC) timestamp: milliseconds since the
// Unix epoch in the high 48 bits and a logical counter in the low 16. Versions
// compare as integers; equal versions are ordered by the writer's node name
// (see Merge). A node never issues the same Version twice while it runs, and
// every Version it issues is above every Version it has seen from others
// (within MaxClockSkew of its own wall clock), so a write made after seeing
// another one always wins over it, whatever the clocks say.
type Version uint64

// MakeVersion returns the Version for wall-clock time wall and a logical
// counter. Times before 1970 map to 0.
func MakeVersion(wall time.Time, logical uint16) Version {
	ms := wall.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	return Version(uint64(ms)<<16 | uint64(logical))
}

// Wall returns the wall-clock part of v.
func (v Version) Wall() time.Time { return time.UnixMilli(int64(v >> 16)) }

// Logical returns the logical counter of v.
func (v Version) Logical() uint16 { return uint16(v) }

// String formats v as "<unix ms>.<logical>".
func (v Version) String() string { return fmt.Sprintf("%d.%d", uint64(v>>16), uint16(v)) }

// clock issues Versions. It is safe for concurrent use.
type clock struct {
	last atomic.Uint64
}

// tick returns a Version greater than any issued or observed before, and not
// below now.
func (c *clock) tick(now time.Time) Version {
	pt := uint64(MakeVersion(now, 0))
	for {
		old := c.last.Load()
		next := max(old+1, pt)
		if c.last.CompareAndSwap(old, next) {
			return Version(next)
		}
	}
}

// observe moves the clock past v, a Version received from a peer, unless v is
// more than skew ahead of now (a peer with a wild clock must not drag ours
// along; its entries still merge, they just do not advance our clock). It
// reports whether v was within the skew.
func (c *clock) observe(v Version, now time.Time, skew time.Duration) bool {
	if uint64(v) > uint64(MakeVersion(now.Add(skew), 0)) {
		return false
	}
	for {
		old := c.last.Load()
		if old >= uint64(v) || c.last.CompareAndSwap(old, uint64(v)) {
			return true
		}
	}
}

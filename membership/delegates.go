package membership

import (
	"bytes"

	"github.com/hashicorp/memberlist"
)

var (
	_ memberlist.Delegate         = delegate{}
	_ memberlist.EventDelegate    = eventDelegate{}
	_ memberlist.ConflictDelegate = conflictDelegate{}
)

// delegate hands memberlist this node's metadata. Its methods run with
// memberlist's locks held: copy and return, never block or call back in.
// User messages and state exchange are not used: replication has its own
// channel.
type delegate struct{ c *Cluster }

// NodeMeta returns a copy of the encoded metadata. SetMeta and New keep it
// within MaxMetaSize, so the limit check here (memberlist panics above it)
// never trips; it answers empty metadata rather than panic if it did.
func (d delegate) NodeMeta(limit int) []byte {
	b := *d.c.metaBytes.Load()
	if len(b) > limit {
		return nil
	}
	return bytes.Clone(b)
}

func (delegate) NotifyMsg([]byte)                           {}
func (delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (delegate) LocalState(join bool) []byte                { return nil }
func (delegate) MergeRemoteState(buf []byte, join bool)     {}

// eventDelegate receives membership changes, which arrive serially with
// memberlist's node lock held: copy and return (Cluster.record); Run
// publishes the View.
type eventDelegate struct{ c *Cluster }

func (d eventDelegate) NotifyJoin(n *memberlist.Node)   { d.c.record(n, true) }
func (d eventDelegate) NotifyUpdate(n *memberlist.Node) { d.c.record(n, true) }
func (d eventDelegate) NotifyLeave(n *memberlist.Node)  { d.c.record(n, false) }

// conflictDelegate reports two nodes claiming one name, which memberlist
// resolves by ignoring the newcomer; an operator must rename one. When this
// node learns, during its first join round, that a member it joins already
// has its name, it is the newcomer: Run fails with a *NameTakenError
// instead of running ignored.
type conflictDelegate struct{ c *Cluster }

func (d conflictDelegate) NotifyConflict(existing, other *memberlist.Node) {
	if existing.Name == d.c.cfg.Name && !d.c.firstRound.Load() {
		addr := other.Address()
		d.c.taken.CompareAndSwap(nil, &addr)
		return
	}
	d.c.log.Error().Str("peer", existing.Name).Str("addr", existing.Address()).
		Str("other_addr", other.Address()).Msg("two members claim one name; the newcomer is ignored")
}

package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/membership"
)

// Cluster agreement: the proxies of a cluster share learned sessions,
// failover pins and operators' member states keyed by balancer and member
// name, so a proxy whose balancers are named or populated otherwise than
// its peers' silently shares nothing for them (issue 12). Each proxy
// compares its balancers with every peer's and reports each difference: a
// warn log line when it appears or changes, an info line when it is gone,
// the status page, /api/status (cluster.config_mismatches) and the gauge
// tether_cluster_config_mismatch.
//
// What is compared is each balancer's name and its configured members'
// names (routes), not URLs: URLs may differ per proxy (a member reached by
// another address), names may not. Members found through `discover
// cluster` come from the same gossip on every proxy and are left out, so a
// backend agent joining cannot look like a disagreement.
//
// It takes two sources. The membership metadata (at most 512 bytes) carries
// a 64-bit digest of a proxy's balancers (membership.Meta.BalancerDigest):
// a peer whose digest is not this node's differs, known as soon as its
// alive message arrives, on join and on every reload. Which balancers and
// members differ comes from the counters snapshot each peer sends every 2 s
// over the session channel (balancer → member names, discovered members
// marked): until one has arrived the mismatch is reported without a
// balancer. Peers that advertise no digest (an older release) are not
// compared.

// agreementInterval is how often the comparison runs besides on every
// membership change and reload: often enough to add the details of a new
// mismatch soon after the peer's next snapshot (sent every 2 s).
const agreementInterval = time.Second

// ConfigMismatch is one way a peer proxy's balancers differ from this
// node's.
type ConfigMismatch struct {
	// Peer is the peer proxy's member name.
	Peer string `json:"peer"`
	// Balancer is the balancer that differs; "" while only the peer's
	// digest says its balancers differ (its next counters say which).
	Balancer string `json:"balancer,omitempty"`
	// Differs says how, for people: "only on this node", "only on the
	// peer", or the members only on each side.
	Differs string `json:"differs"`
	// MembersOnlyHere and MembersOnlyOnPeer are the configured members of
	// Balancer that only this node, or only the peer, has.
	MembersOnlyHere   []string `json:"members_only_here,omitempty"`
	MembersOnlyOnPeer []string `json:"members_only_on_peer,omitempty"`
}

// agreement is a Server's comparison of its balancers with its peers'.
type agreement struct {
	// kick (cap 1) wakes runAgreement after a reload.
	kick chan struct{}
	// current is the last comparison's mismatches, sorted by peer and
	// balancer; nil before the first one.
	current atomic.Pointer[[]ConfigMismatch]
}

// mismatches returns the current mismatches (nil when the proxies agree).
func (s *Server) mismatches() []ConfigMismatch {
	if p := s.agree.current.Load(); p != nil {
		return *p
	}
	return nil
}

// configChanged wakes the comparison after a reload.
func (s *Server) configChanged() {
	select {
	case s.agree.kick <- struct{}{}:
	default: // one is pending
	}
}

// balancerShapes is what the proxies of a cluster must agree on: balancer
// name → its configured members' names, sorted.
type balancerShapes map[string][]string

func shapesOf(bals []*config.Balancer) balancerShapes {
	out := make(balancerShapes, len(bals))
	for _, b := range bals {
		names := make([]string, 0, len(b.Members))
		for _, m := range b.Members {
			names = append(names, m.Name)
		}
		slices.Sort(names)
		out[b.Name] = names
	}
	return out
}

// digest is a 64-bit digest of the shapes, never 0 (which means "not
// reported" in the metadata): the first 8 bytes of a SHA-256 over the
// balancers in name order, each its name then its members' names, every
// name NUL-terminated (names never contain NUL).
func (bs balancerShapes) digest() uint64 {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(bs)) {
		h.Write([]byte(name))
		h.Write([]byte{0})
		for _, m := range bs[name] {
			h.Write([]byte(m))
			h.Write([]byte{0})
		}
		h.Write([]byte{1}) // end of balancer
	}
	d := binary.BigEndian.Uint64(h.Sum(nil))
	if d == 0 {
		d = 1
	}
	return d
}

// BalancerDigest is the digest of cfg's balancers that a proxy advertises
// in its cluster metadata (membership.Meta.BalancerDigest); cmd sets it in
// the metadata the proxy joins with, and Serve keeps it current across
// reloads.
func BalancerDigest(cfg *config.Config) uint64 {
	var bals []*config.Balancer
	for i := range cfg.Sites {
		bals = append(bals, cfg.Sites[i].Balancers...)
	}
	return shapesOf(bals).digest()
}

func (s *Server) shapes() balancerShapes {
	list := s.balancerList()
	bals := make([]*config.Balancer, 0, len(list))
	for _, b := range list {
		bals = append(bals, b.cfg)
	}
	return shapesOf(bals)
}

// shapesFromSnapshot reads a peer's shapes from its counters snapshot:
// every balancer, with its members that were not discovered.
func shapesFromSnapshot(snap counterSnapshot) balancerShapes {
	out := make(balancerShapes, len(snap))
	for b, members := range snap {
		names := make([]string, 0, len(members))
		for name, c := range members {
			if !c.Discovered {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		out[b] = names
	}
	return out
}

// compareShapes lists how there (peer's) differs from here, by balancer
// name.
func compareShapes(peer string, here, there balancerShapes) []ConfigMismatch {
	var out []ConfigMismatch
	for _, name := range slices.Sorted(maps.Keys(here)) {
		theirs, ok := there[name]
		if !ok {
			out = append(out, ConfigMismatch{Peer: peer, Balancer: name, Differs: "only on this node"})
			continue
		}
		onlyHere, onlyThere := sortedDiff(here[name], theirs), sortedDiff(theirs, here[name])
		if len(onlyHere) == 0 && len(onlyThere) == 0 {
			continue
		}
		var parts []string
		if len(onlyHere) > 0 {
			parts = append(parts, "members only on this node: "+strings.Join(onlyHere, ", "))
		}
		if len(onlyThere) > 0 {
			parts = append(parts, "members only on the peer: "+strings.Join(onlyThere, ", "))
		}
		out = append(out, ConfigMismatch{Peer: peer, Balancer: name, Differs: strings.Join(parts, "; "),
			MembersOnlyHere: onlyHere, MembersOnlyOnPeer: onlyThere})
	}
	for name := range there {
		if _, ok := here[name]; !ok {
			out = append(out, ConfigMismatch{Peer: peer, Balancer: name, Differs: "only on the peer"})
		}
	}
	slices.SortFunc(out, func(a, b ConfigMismatch) int { return strings.Compare(a.Balancer, b.Balancer) })
	return out
}

// sortedDiff returns the names of a (sorted) that b (sorted) lacks.
func sortedDiff(a, b []string) []string {
	var out []string
	for _, n := range a {
		if _, found := slices.BinarySearch(b, n); !found {
			out = append(out, n)
		}
	}
	return out
}

// metaPublisher is the part of membership.Cluster that lets Serve keep the
// advertised balancer digest current across reloads. A clusterView without
// it (a test's fixed view) advertises nothing.
type metaPublisher interface {
	Meta() membership.Meta
	SetMeta(membership.Meta) error
}

// runAgreement compares this node's balancers with its peers' on every
// membership change, reload and agreementInterval, until ctx ends.
func (s *Server) runAgreement(ctx context.Context, c clusterView) {
	ch, cancel := c.Subscribe()
	defer cancel()
	t := time.NewTicker(agreementInterval)
	defer t.Stop()
	reported := map[string][]ConfigMismatch{}
	var tried uint64 // the digest last given to SetMeta, so a refusal is logged once
	for {
		here := s.shapes()
		mine := here.digest()
		if p, ok := c.(metaPublisher); ok && mine != tried {
			if m := p.Meta(); m.BalancerDigest != mine {
				m.BalancerDigest = mine
				if err := p.SetMeta(m); err != nil {
					s.log.Error().Err(err).Msg("balancer digest not advertised")
				}
			}
			tried = mine
		}
		reported = s.checkAgreement(c.View(), here, s.peerSnapshots, reported)
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-t.C:
		case <-s.agree.kick:
		}
	}
}

// peerSnapshots decodes the peers' recent counters snapshots, by peer
// name.
func (s *Server) peerSnapshots() map[string]counterSnapshot {
	tab := s.opts.Sessions
	if tab == nil {
		return nil
	}
	out := map[string]counterSnapshot{}
	for name, data := range tab.PeerStats(peerCountersMaxAge) {
		var snap counterSnapshot
		if json.Unmarshal(data, &snap) == nil {
			out[name] = snap
		}
	}
	return out
}

// checkAgreement compares here with every peer proxy of v, stores the
// result for the admin API and logs what changed since reported (by peer),
// which it returns updated. snapshots is called only when some peer's
// digest differs.
func (s *Server) checkAgreement(v *membership.View, here balancerShapes, snapshots func() map[string]counterSnapshot, reported map[string][]ConfigMismatch) map[string][]ConfigMismatch {
	mine := here.digest()
	now := map[string][]ConfigMismatch{}
	var snaps map[string]counterSnapshot
	live := map[string]bool{}
	for _, m := range v.Members {
		live[m.Name] = true
		if m.Name == v.Self.Name || m.Meta.Role != membership.RoleProxy || m.Meta.BalancerDigest == 0 || m.Meta.BalancerDigest == mine {
			continue
		}
		if snaps == nil {
			snaps = snapshots()
		}
		var ms []ConfigMismatch
		if snap, ok := snaps[m.Name]; ok {
			ms = compareShapes(m.Name, here, shapesFromSnapshot(snap))
		}
		if len(ms) == 0 {
			ms = []ConfigMismatch{{Peer: m.Name, Differs: "balancers differ (by the digest the peer advertises); which ones once its counters arrive"}}
		}
		now[m.Name] = ms
	}
	for _, peer := range slices.Sorted(maps.Keys(now)) {
		for _, mm := range now[peer] {
			if !slices.ContainsFunc(reported[peer], func(r ConfigMismatch) bool { return r.Balancer == mm.Balancer && r.Differs == mm.Differs }) {
				s.log.Warn().Str("peer", peer).Str("balancer", mm.Balancer).Str("differs", mm.Differs).
					Msg("balancers differ from a peer's")
			}
		}
	}
	for _, peer := range slices.Sorted(maps.Keys(reported)) {
		if _, still := now[peer]; !still && live[peer] {
			s.log.Info().Str("peer", peer).Msg("balancers agree with the peer's again")
		}
	}
	flat := []ConfigMismatch{}
	for _, peer := range slices.Sorted(maps.Keys(now)) {
		flat = append(flat, now[peer]...)
	}
	s.agree.current.Store(&flat)
	return now
}

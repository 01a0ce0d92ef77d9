package proxy

import (
	"encoding/json"
	"time"
)

// Cluster counters: each proxy sends its peers its own per-member counters
// through the session table's channel (replication.Table.SetStatsSource),
// and Status sums what the peers sent with its own, so the status page of
// any proxy shows the cluster's traffic, not one node's share of it.
// Latency percentiles are not summed: they stay this node's.

// peerCountersMaxAge is how old a peer's snapshot may be and still count:
// three send intervals (2 s), so one late frame does not drop a proxy.
const peerCountersMaxAge = 7 * time.Second

// memberCounts is one member's counters in a snapshot sent to the peers.
// Discovered marks a member found through `discover cluster`, which the
// peers leave out when they compare balancers (clustercheck.go); older
// releases ignore the field.
type memberCounts struct {
	InFlight   int64           `json:"f,omitempty"`
	Requests   uint64          `json:"r,omitempty"`
	Errors     uint64          `json:"e,omitempty"`
	Responses  ResponseClasses `json:"c"`
	Discovered bool            `json:"d,omitempty"`
}

// counterSnapshot is balancer → member → counters.
type counterSnapshot map[string]map[string]memberCounts

// ClusterCounters are a member's traffic counters summed over the proxies
// that reported them: this one and each peer whose snapshot arrived in the
// last few seconds.
type ClusterCounters struct {
	Proxies   int             `json:"proxies"`
	InFlight  int64           `json:"inflight"`
	Requests  uint64          `json:"requests"`
	Errors    uint64          `json:"errors"`
	Responses ResponseClasses `json:"responses"`
}

func (c *ClusterCounters) add(m memberCounts) {
	c.Proxies++
	c.InFlight += m.InFlight
	c.Requests += m.Requests
	c.Errors += m.Errors
	r := &c.Responses
	r.Informational += m.Responses.Informational
	r.Success += m.Responses.Success
	r.Redirect += m.Responses.Redirect
	r.ClientError += m.Responses.ClientError
	r.ServerError += m.Responses.ServerError
	r.Transport += m.Responses.Transport
}

// Shown is what the status page shows for m: the cluster's sums when peers
// reported, else this node's own counters.
func (m MemberStatus) Shown() ClusterCounters {
	if m.Cluster != nil {
		return *m.Cluster
	}
	var c ClusterCounters
	c.add(m.counts())
	return c
}

func (m MemberStatus) counts() memberCounts {
	return memberCounts{InFlight: m.InFlight, Requests: m.Requests, Errors: m.Errors, Responses: m.Responses}
}

// countersSnapshot encodes this node's counters for its peers.
func (s *Server) countersSnapshot() []byte {
	snap := counterSnapshot{}
	for _, b := range s.balancerList() {
		ms := make(map[string]memberCounts)
		for _, m := range b.set.Load().members {
			ms[m.name] = memberCounts{InFlight: m.load.InFlight.Load(), Requests: m.requests.Load(), Errors: m.errors.Load(), Responses: m.responseClasses(),
				Discovered: m.source != "config"}
		}
		snap[b.name] = ms
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return nil
	}
	return data
}

// peerCounters decodes the peers' recent snapshots; nil without a session
// table or without peers. A snapshot that does not decode is left out (it
// came authenticated by the cluster key, from a proxy of another version).
func (s *Server) peerCounters() []counterSnapshot {
	tab := s.opts.Sessions
	if tab == nil {
		return nil
	}
	var out []counterSnapshot
	for _, data := range tab.PeerStats(peerCountersMaxAge) {
		var snap counterSnapshot
		if json.Unmarshal(data, &snap) == nil {
			out = append(out, snap)
		}
	}
	return out
}

// addClusterCounters sums the peers' counters into st's members and counts
// the reporting proxies per balancer. Members only a peer knows are not
// added: the page lists this node's members.
func addClusterCounters(st *Status, peers []counterSnapshot) {
	if len(peers) == 0 {
		return
	}
	for i := range st.Balancers {
		b := &st.Balancers[i]
		n := 1
		for _, p := range peers {
			if _, ok := p[b.Name]; ok {
				n++
			}
		}
		if n == 1 {
			continue // no peer serves this balancer: this node's counters are all there is
		}
		b.CounterProxies = n
		for j := range b.Members {
			m := &b.Members[j]
			c := &ClusterCounters{}
			c.add(m.counts())
			for _, p := range peers {
				if pc, ok := p[b.Name][m.Name]; ok {
					c.add(pc)
				}
			}
			m.Cluster = c
		}
	}
}

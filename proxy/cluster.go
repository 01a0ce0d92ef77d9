package proxy

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/membership"
	"github.com/tether-proxy/tether/routing"
)

// clusterView is the part of membership.Cluster the proxy needs: the live
// members and a signal when they change. Declared here, where it is used,
// so tests can pass a fixed view.
type clusterView interface {
	View() *membership.View
	Subscribe() (ch <-chan struct{}, cancel func())
}

// runDiscovery keeps every `discover cluster SERVICE` balancer's members in
// step with the cluster's live backends of that service. It returns when
// ctx ends.
func (s *Server) runDiscovery(ctx context.Context, c clusterView) {
	ch, cancel := c.Subscribe()
	defer cancel()
	for {
		v := c.View()
		s.observeView(v)
		s.setPeers(v)
		s.applyView(v)
		s.applyMemberStates()
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// applyView gives every `discover cluster` balancer its members from v.
func (s *Server) applyView(v *membership.View) {
	for _, b := range s.balancerList() {
		if b.cfg.DiscoverService == "" {
			continue
		}
		if err := b.SetDiscovered(discoveredFrom(v, b.cfg.DiscoverService)); err != nil {
			b.log.Error().Err(err).Msg("discovered members not applied")
		}
	}
}

// discoveredFrom lists the live backends of service in a view, as config
// members. A backend's own state maps onto routing states: draining takes
// only its sessions (disabled), unhealthy takes nothing (stopped).
func discoveredFrom(v *membership.View, service string) []config.Member {
	var out []config.Member
	for _, m := range v.Members {
		meta := m.Meta
		if meta.Role != membership.RoleBackend || meta.Service != service || meta.URL == "" {
			continue
		}
		name := meta.Route
		if name == "" {
			name = m.Name
		}
		state := "active"
		switch {
		case !meta.Healthy || meta.State == membership.StateStopped:
			state = "stopped"
		case meta.State == membership.StateDisabled, meta.State == membership.StateDraining:
			state = "disabled"
		}
		out = append(out, config.Member{
			Name:   name,
			URL:    meta.URL,
			Weight: max(int(meta.Weight), 1),
			Domain: meta.Domain,
			State:  state,
		})
	}
	return out
}

// SetDiscovered replaces the balancer's cluster-discovered members. Members
// from the config stay; a discovered member with the name of a configured
// one is ignored (the config wins). A member whose name and URL are
// unchanged keeps its connections, counters and health.
func (b *Balancer) SetDiscovered(found []config.Member) error {
	return b.setDiscovered("cluster", found)
}

// setDiscovered replaces the balancer's members of one source ("cluster":
// discover cluster, "ec2": discover ec2) with found. Members of the config
// and of other sources stay and keep their names: a found member with the
// name of one of those is ignored, as is a second one of the same name.
func (b *Balancer) setDiscovered(source string, found []config.Member) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.set.Load().members
	next := make([]*member, 0, len(cur)+len(found))
	mine := map[string]*member{}
	for _, m := range cur {
		if m.source == source {
			mine[m.name] = m
		} else {
			next = append(next, m)
		}
	}
	changed := false
	for _, f := range found {
		if slices.ContainsFunc(next, func(m *member) bool { return m.name == f.Name }) {
			continue // the config wins; of two agents claiming one route, the first (by member name)
		}
		st, err := parseState(f.State)
		if err != nil {
			return err
		}
		if old, ok := mine[f.Name]; ok && old.target.String() == canonicalURL(f.URL) && old.trKey == b.tr.key && old.weight == f.Weight && old.domain == f.Domain {
			if routing.State(old.state.Load()) != st {
				old.state.Store(uint32(st))
				changed = true
			}
			next = append(next, old)
			continue
		}
		m, err := newMember(b.tr, f)
		if err != nil {
			b.log.Warn().Err(err).Str("member", f.Name).Msg("discovered member ignored")
			continue
		}
		m.source = source
		next = append(next, m)
		changed = true
		if len(cur) > 0 {
			b.startRamp(m, b.now()) // slow start: it joins a balancer that serves
		}
		b.log.Info().Str("member", f.Name).Str("url", m.target.String()).Str("source", source).Msg("member discovered")
	}
	for _, m := range cur {
		if m.source == source && !slices.Contains(next, m) {
			changed = true
			b.log.Info().Str("member", m.name).Str("source", source).Msg("discovered member gone")
			m.closeIdle()
		}
	}
	if !changed {
		return nil
	}
	if err := b.install(next); err != nil {
		return fmt.Errorf("balancer %s: %w", b.name, err)
	}
	return nil
}

// canonicalURL is how a member's target prints (scheme://host[:port]),
// as newMember builds it.
func canonicalURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

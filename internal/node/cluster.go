package node

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/membership"
)

// providers builds the discovery providers of a cluster block.
func providers(ctx context.Context, ds []config.Discover, log zerolog.Logger) ([]membership.Provider, error) {
	var out []membership.Provider
	for _, d := range ds {
		p, err := membership.NewProvider(ctx, membership.DiscoverSpec{Kind: d.Kind, Addrs: d.Addrs, Options: d.Options}, log)
		if err != nil {
			return nil, fmt.Errorf("%s: discover %s: %w", d.Pos, d.Kind, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// newProxyCluster builds the membership of a proxy from its cluster block.
// replAddr is the session table's address and digest the digest of the
// proxy's balancers (proxy.BalancerDigest), both advertised in the
// metadata, so peers compare balancers from the first alive message.
func newProxyCluster(ctx context.Context, cc *config.Cluster, name, build, replAddr string, digest uint64, log zerolog.Logger) (*membership.Cluster, error) {
	ps, err := providers(ctx, cc.Discover, log)
	if err != nil {
		return nil, err
	}
	cfg := membership.DefaultConfig()
	cfg.Name = name
	cfg.Cluster = cc.Name
	if cc.Bind != "" {
		cfg.Bind = cc.Bind
	}
	cfg.Advertise = cc.Advertise
	cfg.GossipKeys = cc.GossipKey
	if cc.Profile != "" {
		cfg.Profile = cc.Profile // and its timings
	}
	cfg.Providers = ps
	cfg.Meta = membership.Meta{Role: membership.RoleProxy, Cluster: cc.Name, Healthy: true, Build: build, Addr: replAddr, BalancerDigest: digest}
	cfg.Log = log
	c, err := membership.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: cluster %s: %w", cc.Pos, cc.Name, err)
	}
	return c, nil
}

package proxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/membership"
)

// instanceLister is what a `discover ec2` balancer needs of membership's
// EC2 provider: the running instances that match, with their tags.
// Declared here, where it is used; membership.NewProvider builds it, so
// the EC2 client underneath is membership's business.
type instanceLister interface {
	Instances(ctx context.Context) ([]membership.Instance, error)
}

// ec2Discovery is a balancer's `discover ec2`.
type ec2Discovery struct {
	cfg    *config.DiscoverEC2
	lister instanceLister
}

// newEC2Discovery builds the EC2 provider of d: the same provider a
// cluster's `discover ec2` uses, with the balancer's port.
func newEC2Discovery(d *config.DiscoverEC2, log zerolog.Logger) (*ec2Discovery, error) {
	opts := maps.Clone(d.Options)
	if opts == nil {
		opts = map[string][]string{}
	}
	opts["port"] = []string{strconv.Itoa(d.Port)}
	// Loading the AWS config does no I/O unless the region must come from
	// the instance metadata; bound that.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := membership.NewProvider(ctx, membership.DiscoverSpec{Kind: "ec2", Options: opts}, log)
	if err != nil {
		return nil, err
	}
	l, ok := p.(instanceLister)
	if !ok {
		return nil, errors.New("discover ec2: the provider does not list instances")
	}
	return &ec2Discovery{cfg: d, lister: l}, nil
}

// runEC2 lists the balancer's EC2 members now and every refresh until ctx
// ends.
func (b *Balancer) runEC2(ctx context.Context) {
	tick := time.NewTicker(b.ec2.cfg.Refresh)
	defer tick.Stop()
	for {
		b.refreshEC2(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// refreshEC2 calls DescribeInstances once and makes the running instances
// the balancer's EC2 members. When the call fails the members stay as
// they are: an API outage must not empty a balancer.
func (b *Balancer) refreshEC2(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(b.ec2.cfg.Refresh, 10*time.Second))
	defer cancel()
	insts, err := b.ec2.lister.Instances(ctx)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn().Err(err).Msg("ec2 members not refreshed")
		}
		return
	}
	if err := b.setDiscovered("ec2", ec2Members(b.ec2.cfg, insts, b.log)); err != nil {
		b.log.Error().Err(err).Msg("ec2 members not applied")
	}
}

// ec2Members makes config members of instances: named after the name tag
// (the instance id without one, or when its value is not a route name),
// at SCHEME://ADDR.
func ec2Members(d *config.DiscoverEC2, insts []membership.Instance, log zerolog.Logger) []config.Member {
	out := make([]config.Member, 0, len(insts))
	for _, in := range insts {
		name := in.ID
		if v, ok := in.Tags[d.NameTag]; ok && d.NameTag != "" {
			if routeName(v) {
				name = v
			} else {
				log.Warn().Str("instance", in.ID).Str("tag", d.NameTag).Msg("ec2 instance named by its id: its name tag is not a route name")
			}
		}
		m := config.Member{Name: name, URL: fmt.Sprintf("%s://%s", d.Scheme, in.Addr), Weight: d.Weight, State: "active"}
		if d.DomainTag != "" {
			m.Domain = in.Tags[d.DomainTag]
		}
		out = append(out, m)
	}
	return out
}

// routeName reports whether s can name a member: a jvmRoute, 1 to 64 of
// letters, digits, '_', '-' and '.'.
func routeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

package config

import (
	"slices"
	"strings"
	"time"
)

// DiscoverEC2 is a balancer's `discover ec2 { ... }`: its members are the
// running EC2 instances that match the filters (Hazelcast's AWS discovery
// for backends that run no agent), each reached at SCHEME://IP:PORT,
// re-read every Refresh; instances that appear are added, those that stop
// or terminate are dropped.
type DiscoverEC2 struct {
	// Scheme is how members are spoken to: http (default), https or ajp.
	Scheme string
	// Port is the members' port. Required.
	Port int
	// NameTag is the tag whose value names a member (its route, such as
	// the jvmRoute); "" or an instance without the tag: the instance id.
	NameTag string
	// Refresh is how often DescribeInstances is called. Default 30s.
	Refresh time.Duration
	// Weight is every member's weight (mod_jk lbfactor). Default 1.
	Weight int
	// DomainTag, when set, is the tag whose value is a member's domain
	// (mod_jk's replication group).
	DomainTag string
	// Options are the filters and AWS settings, as in a cluster's
	// discover ec2: tag (repeatable, key=value or key), security_group,
	// vpc, address private|public, max_results, region, endpoint,
	// assume_role, external_id, session_name. membership checks them.
	Options map[string][]string
	Pos     Pos
}

// ec2FilterOptions are the options of a balancer's discover ec2 that go to
// membership's EC2 provider as they are.
var ec2FilterOptions = []string{"tag", "security_group", "vpc", "address", "max_results", "region", "endpoint", "assume_role", "external_id", "session_name"}

// balancerEC2 parses a balancer's "discover ec2 { ... }".
func balancerEC2(n *node) (*DiscoverEC2, error) {
	if n.nargs() > 1 {
		return nil, errorf(n.arg(1).pos, "discover ec2: options go in a block, not %q", n.arg(1).text)
	}
	if !n.hasBlock {
		return nil, errorf(n.args[0].pos, "discover ec2: want a block with at least a tag and the port")
	}
	d := &DiscoverEC2{Scheme: "http", Refresh: 30 * time.Second, Weight: 1, Pos: n.args[0].pos}
	known := append([]string{"port", "scheme", "name_tag", "refresh", "weight", "domain_tag"}, ec2FilterOptions...)
	seen := map[string]Pos{}
	filters := 0
	for _, s := range n.block {
		if !slices.Contains(known, s.name()) {
			return nil, unknown(s, "discover ec2 option", known, nil, "")
		}
		if s.name() != "tag" {
			if err := once(seen, s); err != nil {
				return nil, err
			}
		}
		var err error
		switch s.name() {
		case "port":
			if err = s.simple(1); err == nil {
				d.Port, err = intArg(s, s.arg(0), 1, 65535)
			}
		case "scheme":
			if err = s.simple(1); err == nil {
				d.Scheme, err = oneOf(s, s.arg(0), "scheme", []string{"http", "https", "ajp"})
			}
		case "name_tag", "domain_tag":
			if err = s.simple(1); err == nil {
				var v string
				if v, err = nonEmpty(s, s.arg(0)); s.name() == "name_tag" {
					d.NameTag = v
				} else {
					d.DomainTag = v
				}
			}
		case "refresh":
			if err = s.simple(1); err == nil {
				d.Refresh, err = durArg(s, s.arg(0), false)
				if err == nil && (d.Refresh < time.Second || d.Refresh > 24*time.Hour) {
					err = errorf(s.arg(0).pos, "refresh: %s is out of range 1s..24h", d.Refresh)
				}
			}
		case "weight":
			if err = s.simple(1); err == nil {
				d.Weight, err = intArg(s, s.arg(0), 1, 100)
			}
		default: // the filters and AWS settings
			if err = s.argc(1, -1); err == nil {
				err = s.noBlock()
			}
			if err == nil && s.name() != "tag" && s.nargs() != 1 {
				err = errorf(s.arg(1).pos, "%s: unexpected argument %q", s.name(), s.arg(1).text)
			}
			for i := 0; err == nil && i < s.nargs(); i++ {
				v := s.arg(i)
				switch {
				case v.text == "":
					err = errorf(v.pos, "%s: empty value", s.name())
				case s.name() == "tag" && strings.HasPrefix(v.text, "="):
					err = errorf(v.pos, "tag: %q has no key (want key=value or key)", v.text)
				case s.name() == "endpoint":
					if msg := checkURL(v.text); msg != "" {
						err = errorf(v.pos, "endpoint: %s", msg)
					}
				case s.name() == "address" && v.text != "private" && v.text != "public":
					err = errorf(v.pos, "address: want private or public, got %q", v.text)
				}
				if err == nil {
					if d.Options == nil {
						d.Options = map[string][]string{}
					}
					d.Options[s.name()] = append(d.Options[s.name()], v.text)
				}
			}
			if s.name() == "tag" || s.name() == "security_group" || s.name() == "vpc" {
				filters++
			}
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case d.Port == 0:
		return nil, errorf(d.Pos, "discover ec2: port is required (the members' port, such as 8009 for ajp)")
	case filters == 0:
		return nil, errorf(d.Pos, "discover ec2: give at least one tag, security_group or vpc filter")
	}
	return d, nil
}

package config

import (
	"net/url"
	"time"
)

// Agent is the global `agent CLUSTER { ... }` block, which `tether agent -c
// FILE` reads (`tether run` does not use it): the same settings as its
// flags, with the cluster's discover providers, so that an agent in an
// Auto Scaling group finds the proxies by EC2 tag, S3 registry or DNS.
type Agent struct {
	// Cluster is the cluster name (the block's argument).
	Cluster string
	// Name is the agent's member name; "": tether agent's default.
	Name string
	// Bind is the gossip address ("": 0.0.0.0:7946), Advertise the address
	// others reach the agent at (ip[:port] or auto).
	Bind, Advertise string
	// GossipKey are the cluster's keys; the first is used to send.
	GossipKey []string
	// Profile is lan, wan or local; "": lan.
	Profile string
	// Discover are the providers that find the proxies, as in a cluster
	// block.
	Discover []Discover
	// The backend: its service, route (jvmRoute), URL (http, https or
	// ajp), domain and weight ("" and 0: the flags' defaults).
	Service, Route, URL, Domain string
	Weight                      int
	// HealthURI is the path checked on an http backend; HealthInterval
	// how often, DrainDelay how long the agent advertises draining on
	// SIGTERM before it leaves. Zero: the flags' defaults.
	HealthURI      string
	HealthInterval time.Duration
	DrainDelay     time.Duration
	Pos            Pos
}

var agentOptions = []string{"name", "bind", "advertise", "gossip_key", "profile", "discover", "service", "route", "url", "domain", "weight", "health_uri", "health_interval", "drain_delay"}

// agent parses "agent CLUSTER { ... }".
func (b *builder) agent(n *node) error {
	if err := n.argc(1, 1); err != nil {
		return err
	}
	a := &Agent{Cluster: n.arg(0).text, Pos: n.args[0].pos}
	if !validName(a.Cluster) {
		return errorf(n.arg(0).pos, "agent: bad cluster name %q (letters, digits, '.', '_', '-')", a.Cluster)
	}
	seen := map[string]Pos{}
	for _, s := range n.block {
		if s.name() != "gossip_key" && s.name() != "discover" {
			if err := once(seen, s); err != nil {
				return err
			}
		}
		var err error
		switch s.name() {
		case "name", "service", "route", "domain":
			if err = s.simple(1); err == nil && !validName(s.arg(0).text) {
				err = errorf(s.arg(0).pos, "%s: bad name %q", s.name(), s.arg(0).text)
			}
			if err == nil {
				switch v := s.arg(0).text; s.name() {
				case "name":
					a.Name = v
				case "service":
					a.Service = v
				case "route":
					a.Route = v
				default:
					a.Domain = v
				}
			}
		case "bind":
			if err = s.simple(1); err == nil {
				a.Bind = s.arg(0).text
				if _, _, ok := parseHostPort(a.Bind); !ok {
					err = errorf(s.arg(0).pos, "bind: %q is not host:port", a.Bind)
				}
			}
		case "advertise":
			if err = s.simple(1); err == nil {
				a.Advertise = s.arg(0).text
				if _, _, ok := parseHostPort(a.Advertise); !ok && a.Advertise != "auto" {
					if _, _, ok := parseHostPort(a.Advertise + ":0"); !ok {
						err = errorf(s.arg(0).pos, "advertise: %q is not ip[:port] (or auto)", a.Advertise)
					}
				}
			}
		case "gossip_key":
			if err = s.argc(1, -1); err == nil {
				err = s.noBlock()
			}
			for i := 0; err == nil && i < s.nargs(); i++ {
				if msg := gossipKeyError(s.arg(i).text); msg != "" {
					err = errorf(s.arg(i).pos, "gossip_key: key %s", msg)
				}
				a.GossipKey = append(a.GossipKey, s.arg(i).text)
			}
		case "profile":
			if err = s.simple(1); err == nil {
				a.Profile, err = oneOf(s, s.arg(0), "profile", profiles)
			}
		case "discover":
			var d Discover
			if d, err = discover(s); err == nil {
				a.Discover = append(a.Discover, d)
			}
		case "url":
			if err = s.simple(1); err == nil {
				a.URL = s.arg(0).text
				u, perr := url.Parse(a.URL)
				if perr != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ajp") || u.Host == "" {
					err = errorf(s.arg(0).pos, "url: %q: want http://host:port, https://host:port or ajp://host:port", a.URL)
				}
			}
		case "weight":
			if err = s.simple(1); err == nil {
				a.Weight, err = intArg(s, s.arg(0), 1, 100)
			}
		case "health_uri":
			if err = s.simple(1); err == nil {
				a.HealthURI = s.arg(0).text
				if len(a.HealthURI) == 0 || a.HealthURI[0] != '/' {
					err = errorf(s.arg(0).pos, "health_uri: %q is not a path", a.HealthURI)
				}
			}
		case "health_interval":
			if err = s.simple(1); err == nil {
				a.HealthInterval, err = durArg(s, s.arg(0), false)
			}
		case "drain_delay":
			if err = s.simple(1); err == nil {
				a.DrainDelay, err = durArg(s, s.arg(0), true)
			}
		default:
			err = unknown(s, "agent option", agentOptions, nil, "")
		}
		if err != nil {
			return err
		}
	}
	switch {
	case a.Service == "":
		return errorf(a.Pos, "agent: service is required (the balancers' discover cluster SERVICE)")
	case a.URL == "":
		return errorf(a.Pos, "agent: url is required (where the backend serves)")
	}
	b.cfg.Global.Agent = a
	return nil
}

package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/internal/agent"
	"github.com/tether-proxy/tether/membership"
)

// discoverFlag is tether agent's repeatable --discover: one provider per
// use, as a cluster block's discover line: its kind, then addresses (static,
// dns) and KEY=VALUE options, separated by spaces:
//
//	--discover "ec2 tag=tether-role=proxy port=7946 region=eu-west-1"
//	--discover "s3 bucket=my-bucket prefix=tether/members/"
//	--discover "dns tether.service.internal port=7946"
//	--discover "static 10.0.1.5:7946 10.0.2.7:7946"
//
// A KEY given twice (tag) adds a value. membership checks the options.
type discoverFlag []membership.DiscoverSpec

func (d *discoverFlag) String() string {
	var out []string
	for _, s := range *d {
		out = append(out, s.Kind)
	}
	return strings.Join(out, ",")
}

func (d *discoverFlag) Set(v string) error {
	spec, err := agent.ParseDiscover(v)
	if err != nil {
		return err
	}
	*d = append(*d, spec)
	return nil
}

// configFlag finds -c FILE (or --c, -c=FILE) among args before they are
// parsed: the agent block is turned into flags that the command line then
// overrides.
func configFlag(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		switch {
		case (a == "-c" || a == "--c") && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, "-c="), strings.HasPrefix(a, "--c="):
			_, v, _ := strings.Cut(a, "=")
			return v
		}
	}
	return ""
}

// agentFileArgs reads the agent block of the Caddyfile at path and returns
// it as tether agent flags.
func agentFileArgs(path string) ([]string, error) {
	cfg, err := config.ParseOptions{LookupEnv: os.LookupEnv}.Load(path)
	if err != nil {
		return nil, err
	}
	a := cfg.Global.Agent
	if a == nil {
		return nil, fmt.Errorf("%s: no agent block in the global options (agent CLUSTER { ... })", path)
	}
	args := []string{"--cluster", a.Cluster, "--service", a.Service, "--url", a.URL}
	for _, f := range []struct{ flag, v string }{
		{"--name", a.Name}, {"--bind", a.Bind}, {"--advertise", a.Advertise}, {"--profile", a.Profile},
		{"--route", a.Route}, {"--domain", a.Domain}, {"--health-uri", a.HealthURI},
		{"--gossip-key", strings.Join(a.GossipKey, ",")},
	} {
		if f.v != "" {
			args = append(args, f.flag, f.v)
		}
	}
	if a.Weight != 0 {
		args = append(args, "--weight", strconv.Itoa(a.Weight))
	}
	if a.HealthInterval != 0 {
		args = append(args, "--health-interval", a.HealthInterval.String())
	}
	if a.DrainDelay != 0 {
		args = append(args, "--drain-delay", a.DrainDelay.String())
	}
	for _, d := range a.Discover {
		var parts []string
		parts = append(parts, d.Kind)
		parts = append(parts, d.Addrs...)
		for _, k := range sortedOptionKeys(d.Options) {
			for _, v := range d.Options[k] {
				if strings.ContainsAny(v, " \t") {
					return nil, fmt.Errorf("%s: discover %s: option %s %q has a space", d.Pos, d.Kind, k, v)
				}
				parts = append(parts, k+"="+v)
			}
		}
		args = append(args, "--discover", strings.Join(parts, " "))
	}
	return args, nil
}

func sortedOptionKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package membership

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

var ec2Options = append([]string{"tag", "security_group", "vpc", "address", "port", "max_results"}, awsOptions...)

// EC2Config configures an EC2 provider: running instances matching every
// filter, Hazelcast/go-discover style, but paginated and with security group
// and VPC filters.
type EC2Config struct {
	// Tags filter instances; all must match. "key=value" matches a tag's
	// value; "key" alone matches any instance with the tag key.
	Tags []string
	// SecurityGroup is an optional group id (sg-…) or group name.
	SecurityGroup string
	// VPC is an optional VPC id.
	VPC string
	// Public selects the public IPv4 address instead of the private one;
	// instances without one are skipped.
	Public bool
	// Port is the gossip port on the instances. Default DefaultPort.
	Port int
	// MaxResults is the page size of DescribeInstances (5–1000). 0 leaves
	// it to EC2.
	MaxResults int32
}

// EC2 finds members with DescribeInstances.
type EC2 struct {
	client EC2API
	input  DescribeInstancesInput
	public bool
	port   int
	what   string // for errors: the filters
	last   lastGood
}

// NewEC2 returns an EC2 provider that calls client (NewEC2Client).
func NewEC2(client EC2API, cfg EC2Config) (*EC2, error) {
	if len(cfg.Tags) == 0 && cfg.SecurityGroup == "" && cfg.VPC == "" {
		return nil, fmt.Errorf("discover ec2: give at least one tag, security_group or vpc filter")
	}
	if cfg.MaxResults != 0 && (cfg.MaxResults < 5 || cfg.MaxResults > 1000) {
		return nil, fmt.Errorf("discover ec2: max_results %d: want 5-1000", cfg.MaxResults)
	}
	filters := []EC2Filter{{Name: "instance-state-name", Values: []string{"running"}}}
	for _, t := range cfg.Tags {
		k, v, hasValue := strings.Cut(t, "=")
		if k == "" {
			return nil, fmt.Errorf("discover ec2: tag %q: empty key", t)
		}
		if hasValue {
			filters = append(filters, EC2Filter{Name: "tag:" + k, Values: []string{v}})
		} else {
			filters = append(filters, EC2Filter{Name: "tag-key", Values: []string{k}})
		}
	}
	if sg := cfg.SecurityGroup; sg != "" {
		name := "instance.group-name"
		if strings.HasPrefix(sg, "sg-") {
			name = "instance.group-id"
		}
		filters = append(filters, EC2Filter{Name: name, Values: []string{sg}})
	}
	if cfg.VPC != "" {
		filters = append(filters, EC2Filter{Name: "vpc-id", Values: []string{cfg.VPC}})
	}
	port := cfg.Port
	if port == 0 {
		port = DefaultPort
	}
	e := &EC2{client: client, public: cfg.Public, port: port,
		input: DescribeInstancesInput{Filters: filters, MaxResults: cfg.MaxResults}}
	e.what = "ec2 discovery: describe instances " + describeFilters(filters)
	return e, nil
}

func describeFilters(fs []EC2Filter) string {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		parts = append(parts, f.Name+"="+strings.Join(f.Values, ","))
	}
	return strings.Join(parts, " ")
}

func newEC2FromSpec(ctx context.Context, spec DiscoverSpec, log zerolog.Logger) (*EC2, error) {
	awsCfg, endpoint, err := loadAWS(ctx, spec.Options, log)
	if err != nil {
		return nil, fmt.Errorf("discover ec2: %w", err)
	}
	var c EC2Config
	c.Tags = spec.Options["tag"]
	for _, f := range []struct {
		key string
		dst *string
	}{{"security_group", &c.SecurityGroup}, {"vpc", &c.VPC}} {
		if *f.dst, err = opt(spec.Options, f.key); err != nil {
			return nil, fmt.Errorf("discover ec2: %w", err)
		}
	}
	switch a, _ := opt(spec.Options, "address"); a {
	case "", "private", "private_ipv4":
	case "public", "public_ipv4":
		c.Public = true
	default:
		return nil, fmt.Errorf("discover ec2: address %q: want private or public", a)
	}
	if c.Port, err = optPort(spec.Options); err != nil {
		return nil, fmt.Errorf("discover ec2: %w", err)
	}
	if s, _ := opt(spec.Options, "max_results"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("discover ec2: max_results %q: %w", s, err)
		}
		c.MaxResults = int32(n)
	}
	return NewEC2(NewEC2Client(awsCfg, endpoint), c)
}

// Instance is one running instance an EC2 provider found.
type Instance struct {
	// ID is the instance id (i-…).
	ID string
	// Addr is ip:port: the private address (the public one with address
	// public) and the provider's port.
	Addr string
	// Zone is the availability zone.
	Zone string
	// Tags are the instance's tags.
	Tags map[string]string
}

// Addrs lists the running matching instances, every page, as ip:port.
func (e *EC2) Addrs(ctx context.Context) ([]string, error) {
	insts, err := e.describe(ctx)
	if err != nil {
		return e.last.answer(nil, err, e.what)
	}
	out := make([]string, 0, len(insts))
	for _, inst := range insts {
		out = append(out, inst.Addr)
	}
	return e.last.answer(out, nil, e.what)
}

// Instances lists the running matching instances, every page, sorted by
// id, with their tags: what a balancer's `discover ec2` makes members of.
// On failure it returns the error, naming the filters, and no instances;
// the caller keeps what it had.
func (e *EC2) Instances(ctx context.Context) ([]Instance, error) {
	insts, err := e.describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.what, err)
	}
	slices.SortFunc(insts, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return insts, nil
}

// describe calls DescribeInstances for every page.
func (e *EC2) describe(ctx context.Context) ([]Instance, error) {
	in := e.input // NextToken is set on this copy
	in.Filters = slices.Clone(in.Filters)
	var out []Instance
	for {
		page, err := e.client.DescribeInstances(ctx, &in)
		if err != nil {
			return nil, err
		}
		for _, inst := range page.Instances {
			if inst.State != "running" {
				continue // the filter should have done this; be sure
			}
			ip := inst.PrivateIP
			if e.public {
				ip = inst.PublicIP
			}
			if ip == "" {
				continue
			}
			out = append(out, Instance{ID: inst.ID, Addr: net.JoinHostPort(ip, strconv.Itoa(e.port)), Zone: inst.Zone, Tags: inst.Tags})
		}
		if page.NextToken == "" || page.NextToken == in.NextToken {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

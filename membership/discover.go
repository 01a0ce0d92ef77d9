package membership

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rs/zerolog"
)

// Provider finds the gossip addresses (host:port) of members to join.
//
// Addrs may block on I/O and honours ctx. It is called from one goroutine at
// a time (Run's discovery round) but must be safe for concurrent use. On
// failure it returns its last good answer together with an error naming the
// provider and the operation, so a flaky API never empties the seed list.
// The caller owns the returned slice.
type Provider interface {
	Addrs(ctx context.Context) ([]string, error)
}

// Announcer is a Provider that also publishes this node, such as the S3
// registry. Run calls Announce at the start of every discovery round (the
// provider decides whether to rewrite) and Withdraw once on a graceful
// leave. Both may block on I/O and honour ctx.
type Announcer interface {
	Provider
	// Announce records that member name is reachable at addr (host:port).
	Announce(ctx context.Context, name, addr string) error
	// Withdraw removes what Announce recorded, and nothing another node
	// wrote since.
	Withdraw(ctx context.Context) error
}

// DiscoverSpec is one `discover` directive: the same shape as the config
// package's Discover, which the proxy translates (membership does not
// import config).
type DiscoverSpec struct {
	// Kind is static, dns, ec2 or s3.
	Kind string
	// Addrs are host:port seeds for static and names for dns.
	Addrs []string
	// Options are the sub-directives with their arguments; each kind
	// rejects keys it does not know.
	Options map[string][]string
}

// DefaultPort is the gossip port assumed where a provider finds addresses
// without one (dns A/AAAA, ec2).
const DefaultPort = 7946

// NewProvider builds the provider a DiscoverSpec describes. AWS kinds load
// the default credential chain here (no network I/O unless the region must
// come from instance metadata). log receives the provider's own events
// (collected stale entries); the zero Logger discards them.
func NewProvider(ctx context.Context, spec DiscoverSpec, log zerolog.Logger) (Provider, error) {
	log = log.With().Str("component", "discovery").Str("kind", spec.Kind).Logger()
	switch spec.Kind {
	case "static":
		if err := checkOptions(spec, nil); err != nil {
			return nil, err
		}
		return NewStatic(spec.Addrs)
	case "dns":
		if err := checkOptions(spec, []string{"port"}); err != nil {
			return nil, err
		}
		port, err := optPort(spec.Options)
		if err != nil {
			return nil, fmt.Errorf("discover dns: %w", err)
		}
		return NewDNS(spec.Addrs, port)
	case "ec2":
		if err := checkOptions(spec, ec2Options); err != nil {
			return nil, err
		}
		return newEC2FromSpec(ctx, spec, log)
	case "s3":
		if err := checkOptions(spec, s3Options); err != nil {
			return nil, err
		}
		return newS3FromSpec(ctx, spec, log)
	}
	return nil, fmt.Errorf("discover %q: unknown kind (want static, dns, ec2 or s3)", spec.Kind)
}

func checkOptions(spec DiscoverSpec, allowed []string) error {
	for k := range spec.Options {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return fmt.Errorf("discover %s: unknown option %q (it takes none)", spec.Kind, k)
			}
			return fmt.Errorf("discover %s: unknown option %q (want one of %s)", spec.Kind, k, strings.Join(allowed, ", "))
		}
	}
	if spec.Kind != "static" && spec.Kind != "dns" && len(spec.Addrs) > 0 {
		return fmt.Errorf("discover %s: takes no addresses, got %q", spec.Kind, spec.Addrs)
	}
	return nil
}

// opt returns the single argument of option key, or "" when absent.
func opt(o map[string][]string, key string) (string, error) {
	v, ok := o[key]
	if !ok {
		return "", nil
	}
	if len(v) != 1 {
		return "", fmt.Errorf("option %s takes one value, got %d", key, len(v))
	}
	return v[0], nil
}

func optPort(o map[string][]string) (int, error) {
	s, err := opt(o, "port")
	if err != nil || s == "" {
		return DefaultPort, err
	}
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("port %q: want 1-65535", s)
	}
	return int(p), nil
}

// Combine returns a Provider that asks every p concurrently and answers the
// union of their addresses, sorted, with all their errors joined. It is
// also an Announcer that passes Announce and Withdraw to those of ps that
// are.
func Combine(ps ...Provider) Provider {
	return multi(slices.Clone(ps))
}

type multi []Provider

var _ Announcer = multi(nil)

func (m multi) Addrs(ctx context.Context) ([]string, error) {
	type answer struct {
		addrs []string
		err   error
	}
	answers := make([]answer, len(m))
	var wg sync.WaitGroup
	for i, p := range m {
		wg.Go(func() {
			a, err := p.Addrs(ctx)
			answers[i] = answer{a, err}
		})
	}
	wg.Wait()
	var (
		all  []string
		errs []error
	)
	for _, a := range answers {
		all = append(all, a.addrs...)
		if a.err != nil {
			errs = append(errs, a.err)
		}
	}
	sort.Strings(all)
	return slices.Compact(all), errors.Join(errs...)
}

func (m multi) Announce(ctx context.Context, name, addr string) error {
	var errs []error
	for _, p := range m {
		if a, ok := p.(Announcer); ok {
			errs = append(errs, a.Announce(ctx, name, addr))
		}
	}
	return errors.Join(errs...)
}

func (m multi) Withdraw(ctx context.Context) error {
	var errs []error
	for _, p := range m {
		if a, ok := p.(Announcer); ok {
			errs = append(errs, a.Withdraw(ctx))
		}
	}
	return errors.Join(errs...)
}

func announce(ctx context.Context, p Provider, name, addr string) error {
	if a, ok := p.(Announcer); ok {
		return a.Announce(ctx, name, addr)
	}
	return nil
}

func withdraw(ctx context.Context, p Provider) error {
	if a, ok := p.(Announcer); ok {
		return a.Withdraw(ctx)
	}
	return nil
}

// lastGood keeps a provider's last successful answer.
type lastGood struct {
	mu    sync.Mutex
	addrs []string
}

// answer records addrs when err is nil; otherwise it returns the last good
// answer with err wrapped as "<what>: err".
func (l *lastGood) answer(addrs []string, err error, what string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		return slices.Clone(l.addrs), fmt.Errorf("%s: %w", what, err)
	}
	sort.Strings(addrs)
	l.addrs = slices.Compact(addrs)
	return slices.Clone(l.addrs), nil
}

// Static is a fixed list of seed addresses (Tomcat's static membership).
type Static struct{ addrs []string }

// NewStatic validates addrs as host:port.
func NewStatic(addrs []string) (*Static, error) {
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return nil, fmt.Errorf("discover static: %q is not host:port", a)
		}
	}
	return &Static{addrs: slices.Clone(addrs)}, nil
}

// Addrs returns the configured addresses. It never fails.
func (s *Static) Addrs(context.Context) ([]string, error) { return slices.Clone(s.addrs), nil }

// DNS looks names up on every call: A/AAAA records with a default port, or,
// for names starting with "_" (`_gossip._tcp.tether.internal`), SRV records
// whose targets are resolved in turn and whose ports are used.
type DNS struct {
	names []string
	port  int
	last  lastGood
	// lookups; net.DefaultResolver unless a test substitutes them.
	lookupIP  func(ctx context.Context, host string) ([]net.IPAddr, error)
	lookupSRV func(ctx context.Context, name string) ([]*net.SRV, error)
}

// NewDNS returns a DNS provider for names with port for A/AAAA answers.
func NewDNS(names []string, port int) (*DNS, error) {
	if len(names) == 0 {
		return nil, errors.New("discover dns: no names")
	}
	return &DNS{
		names:    slices.Clone(names),
		port:     port,
		lookupIP: net.DefaultResolver.LookupIPAddr,
		lookupSRV: func(ctx context.Context, name string) ([]*net.SRV, error) {
			_, srvs, err := net.DefaultResolver.LookupSRV(ctx, "", "", name)
			return srvs, err
		},
	}, nil
}

// Addrs resolves every name. A name that fails is reported, and the whole
// answer falls back to the last good one only when every name failed.
func (d *DNS) Addrs(ctx context.Context) ([]string, error) {
	var (
		out  []string
		errs []error
	)
	for _, name := range d.names {
		a, err := d.resolve(ctx, name)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, a...)
	}
	err := errors.Join(errs...)
	if len(out) > 0 {
		got, _ := d.last.answer(out, nil, "")
		if err != nil {
			err = fmt.Errorf("dns discovery: %w", err)
		}
		return got, err
	}
	if err == nil {
		err = errors.New("no addresses")
	}
	return d.last.answer(nil, err, "dns discovery")
}

func (d *DNS) resolve(ctx context.Context, name string) ([]string, error) {
	if !strings.HasPrefix(name, "_") {
		ips, err := d.lookupIP(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("lookup %s: %w", name, err)
		}
		out := make([]string, 0, len(ips))
		for _, ip := range ips {
			out = append(out, net.JoinHostPort(ip.IP.String(), strconv.Itoa(d.port)))
		}
		return out, nil
	}
	srvs, err := d.lookupSRV(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("lookup srv %s: %w", name, err)
	}
	var (
		out  []string
		errs []error
	)
	for _, s := range srvs {
		ips, err := d.lookupIP(ctx, s.Target)
		if err != nil {
			errs = append(errs, fmt.Errorf("lookup %s (srv %s): %w", s.Target, name, err))
			continue
		}
		for _, ip := range ips {
			out = append(out, net.JoinHostPort(ip.IP.String(), strconv.Itoa(int(s.Port))))
		}
	}
	return out, errors.Join(errs...)
}

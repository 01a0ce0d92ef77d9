package membership

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// Config configures a Cluster. New validates it.
type Config struct {
	// Name is this node's member name, unique in the cluster and stable
	// across restarts (it is the route id of a proxy). Default: the hostname.
	Name string
	// Cluster is the cluster name. It is memberlist's Label, carried in (and,
	// with a key, authenticated with) every packet, so members of two
	// clusters never mix even when they share a key. Required, ≤255 bytes.
	Cluster string
	// Bind is the host:port gossip listens on, UDP and TCP. Default
	// "0.0.0.0:7946"; port 0 picks a free port (tests).
	Bind string
	// Advertise is the address other members reach this node at: "ip" or
	// "ip:port" (the port defaults to the bound one); "auto" asks the EC2
	// instance metadata service for local-ipv4; "" uses the bind IP, or, when
	// Bind is a wildcard, the private IP memberlist finds (New fails if there
	// is none: set Advertise).
	Advertise string
	// GossipKeys are base64 AES keys (16, 24 or 32 bytes). The first encrypts
	// what this node sends; all are accepted on receipt, for rotation. Empty
	// means gossip in the clear (tests and trusted networks only).
	GossipKeys []string
	// Profile is lan (default), wan or local; see profile.go for each value.
	Profile string
	// Meta is this node's initial metadata. Its Version is assigned.
	Meta Meta
	// Providers find the addresses of other members; their answers are
	// combined. Empty means this node only waits to be joined.
	Providers []Provider
	// RejoinInterval is how often discovery runs and addresses that are not
	// live members are joined, which is what merges a healed partition.
	// Default by profile (lan 30s, wan 60s, local 2s).
	RejoinInterval time.Duration
	// JoinTimeout bounds one join round; a seed that has not answered by
	// then is abandoned for the round. Default by profile (lan 3s, wan 10s,
	// local 1s).
	JoinTimeout time.Duration
	// LeaveTimeout bounds the graceful leave when Run ends. Default by
	// profile (lan 3s, wan 5s, local 1s).
	LeaveTimeout time.Duration
	// IMDSEndpoint overrides the instance metadata endpoint for Advertise
	// "auto" (tests). Default: the SDK's (169.254.169.254 or
	// AWS_EC2_METADATA_SERVICE_ENDPOINT).
	IMDSEndpoint string
	// Log receives the cluster's events and memberlist's own log lines.
	// The zero value discards them.
	Log zerolog.Logger

	// Test hooks: tune adjusts the memberlist config last; drop makes the
	// transport lose traffic to an address (a partition).
	tune func(*memberlist.Config)
	drop func(addr string) bool
}

// DefaultConfig returns a Config for the lan profile on the standard
// port: Bind 0.0.0.0:7946, Profile lan. The timings (RejoinInterval,
// JoinTimeout, LeaveTimeout) stay zero, which means "the profile's", so a
// caller that sets another Profile gets that profile's timings without
// clearing anything. Name, Cluster, Meta and Providers are left for the
// caller.
func DefaultConfig() Config {
	return Config{Bind: "0.0.0.0:7946", Profile: ProfileLAN}
}

// Member is one live member as of a View.
type Member struct {
	// Name is the member name (Config.Name on that node).
	Name string
	// Addr is the member's gossip address.
	Addr netip.AddrPort
	// Meta is the member's decoded metadata.
	Meta Meta
}

// View is an immutable snapshot of the cluster as this node sees it. Do not
// modify it: it is shared by every reader.
type View struct {
	// Epoch increases by one with every View a Cluster publishes.
	Epoch uint64
	// Self is this node.
	Self Member
	// Members are the live members, this node included, sorted by name.
	Members []Member
	// Invalid names live members whose metadata could not be decoded (for
	// instance a newer, incompatible release); they are not in Members.
	Invalid []string
}

// Member returns the live member called name.
func (v *View) Member(name string) (Member, bool) {
	i, ok := slices.BinarySearchFunc(v.Members, name, func(m Member, n string) int {
		switch {
		case m.Name < n:
			return -1
		case m.Name > n:
			return 1
		}
		return 0
	})
	if !ok {
		return Member{}, false
	}
	return v.Members[i], true
}

// rawMember is what the delegates copy out of memberlist.
type rawMember struct {
	name string
	addr netip.AddrPort
	meta []byte
}

// Cluster is this node's membership in a gossip cluster. Create it with New,
// then call Run. View, Subscribe, SetMeta and Join are safe for concurrent
// use.
type Cluster struct {
	cfg    Config
	log    zerolog.Logger
	ml     *memberlist.Memberlist
	tr     *transport
	prov   Provider
	self   netip.AddrPort
	events chan struct{} // cap 1: a member changed; Run publishes

	// metaBytes is the encoded metadata NodeMeta hands to memberlist.
	metaBytes atomic.Pointer[[]byte]
	// setMu serializes SetMeta and guards meta.
	setMu sync.Mutex
	meta  Meta

	// mu guards members. It is taken inside memberlist's node lock (by the
	// delegates), never the reverse: hold it only to copy.
	mu      sync.Mutex
	members map[string]rawMember

	view atomic.Pointer[View]
	// pubMu serializes publishing and guards subs and invalid.
	pubMu   sync.Mutex
	subs    map[*chan struct{}]struct{}
	invalid map[string]bool // members whose bad metadata was logged

	// joinMu guards joining, the addresses with a join in flight (a seed
	// that hangs is not dialled again until its attempt ends), and stopped.
	joinMu  sync.Mutex
	joining map[string]bool
	stopped bool
	joins   sync.WaitGroup // join attempts; stop waits for them after Shutdown

	closeLog func()        // silences memberlist's log once stopped
	started  chan struct{} // closed when the first join round is done
	// firstRound is set once the first join round is done; taken holds
	// the address of a member that had this node's name when this node
	// joined (see conflictDelegate).
	firstRound atomic.Bool
	taken      atomic.Pointer[string]
	fatal      chan error // cap 1: Run returns it
	running    atomic.Bool
	closeOnce  sync.Once
}

// New validates cfg, binds the gossip port and starts memberlist. The
// returned Cluster gossips at once but joins nobody until Run. Call Run, or
// Close if Run will not be called.
func New(cfg Config) (*Cluster, error) {
	if cfg.Cluster == "" {
		return nil, errors.New("cluster name is required")
	}
	if len(cfg.Cluster) > memberlist.LabelMaxSize {
		return nil, fmt.Errorf("cluster name is %d bytes, over %d", len(cfg.Cluster), memberlist.LabelMaxSize)
	}
	prof, err := lookupProfile(cfg.Profile)
	if err != nil {
		return nil, err
	}
	if cfg.RejoinInterval <= 0 {
		cfg.RejoinInterval = prof.rejoin
	}
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = prof.join
	}
	if cfg.LeaveTimeout <= 0 {
		cfg.LeaveTimeout = prof.leave
	}
	if cfg.Name == "" {
		if cfg.Name, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("member name: %w", err)
		}
	}
	keyring, err := newKeyring(cfg.GossipKeys)
	if err != nil {
		return nil, err
	}
	bindHost, bindPort, err := splitBind(cfg.Bind)
	if err != nil {
		return nil, err
	}
	m := cfg.Meta
	if m.Cluster == "" {
		m.Cluster = cfg.Cluster
	}
	m.Version = uint64(time.Now().UnixMilli())
	enc, err := EncodeMeta(m)
	if err != nil {
		return nil, fmt.Errorf("node metadata: %w", err)
	}

	c := &Cluster{
		cfg:     cfg,
		log:     cfg.Log.With().Str("component", "membership").Str("cluster", cfg.Cluster).Str("member", cfg.Name).Logger(),
		prov:    Combine(cfg.Providers...),
		events:  make(chan struct{}, 1),
		meta:    m,
		members: make(map[string]rawMember),
		subs:    make(map[*chan struct{}]struct{}),
		invalid: make(map[string]bool),
		joining: make(map[string]bool),
		started: make(chan struct{}),
		fatal:   make(chan error, 1),
	}
	c.metaBytes.Store(&enc)

	mc := prof.ml()
	prof.tune(mc)
	mc.Name = cfg.Name
	mc.Label = cfg.Cluster
	mc.Keyring = keyring
	mc.Logger, c.closeLog = newStdLogger(cfg.Log)
	mc.Delegate = delegate{c}
	mc.Events = eventDelegate{c}
	mc.Conflict = conflictDelegate{c}
	mc.BindAddr = bindHost
	if err := c.setAdvertise(mc, bindHost); err != nil {
		return nil, err
	}
	if cfg.tune != nil {
		cfg.tune(mc)
	}
	tr, err := newTransport(bindHost, bindPort, mc)
	if err != nil {
		c.closeLog()
		return nil, err
	}
	tr.drop = cfg.drop
	mc.Transport = tr
	mc.BindPort = tr.GetAutoBindPort()
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = mc.BindPort
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		tr.Shutdown()
		c.closeLog()
		return nil, fmt.Errorf("start memberlist (set Advertise if no private IP is found): %w", err)
	}
	c.ml, c.tr = ml, tr
	ln := ml.LocalNode()
	addr, _ := netip.AddrFromSlice(ln.Addr)
	c.self = netip.AddrPortFrom(addr.Unmap(), ln.Port)
	c.publish()
	c.log.Info().Str("addr", c.self.String()).Str("profile", cmp.Or(cfg.Profile, ProfileLAN)).Bool("encrypted", keyring != nil).Msg("gossip started")
	return c, nil
}

func splitBind(bind string) (string, int, error) {
	if bind == "" {
		bind = "0.0.0.0:7946"
	}
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return "", 0, fmt.Errorf("bind %q: %w", bind, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return "", 0, fmt.Errorf("bind %q: host must be an IP address", bind)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bind %q: bad port", bind)
	}
	return host, int(p), nil
}

// setAdvertise fills mc.AdvertiseAddr/Port from Config.Advertise.
func (c *Cluster) setAdvertise(mc *memberlist.Config, bindHost string) error {
	adv := c.cfg.Advertise
	mc.AdvertiseAddr, mc.AdvertisePort = "", 0
	switch {
	case adv == "auto":
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ip, err := imdsLocalIPv4(ctx, c.cfg.IMDSEndpoint)
		if err != nil {
			return fmt.Errorf("advertise auto: %w", err)
		}
		mc.AdvertiseAddr = ip
	case adv != "":
		host, port := adv, ""
		if ap, err := netip.ParseAddrPort(adv); err == nil {
			host, port = ap.Addr().String(), strconv.Itoa(int(ap.Port()))
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("advertise %q: want ip or ip:port", adv)
		}
		mc.AdvertiseAddr = host
		if port != "" {
			mc.AdvertisePort, _ = strconv.Atoi(port)
		}
	default:
		if a, _ := netip.ParseAddr(bindHost); !a.IsUnspecified() {
			mc.AdvertiseAddr = bindHost
		}
	}
	return nil
}

// Name returns this node's member name.
func (c *Cluster) Name() string { return c.cfg.Name }

// Addr returns this node's advertised gossip address.
func (c *Cluster) Addr() netip.AddrPort { return c.self }

// HealthScore returns memberlist's view of this node's own health (its
// Lifeguard awareness): 0 is healthy; higher means it has been missing
// probes and has slowed its failure detection.
func (c *Cluster) HealthScore() int { return c.ml.GetHealthScore() }

// View returns the latest published View. It never returns nil.
func (c *Cluster) View() *View { return c.view.Load() }

// Subscribe returns a channel that receives a value when a new View is
// published. It has room for one value: a slow reader misses intermediate
// notifications, never the fact that something changed, and then reads
// View(). cancel stops the notifications; the channel is never closed.
func (c *Cluster) Subscribe() (ch <-chan struct{}, cancel func()) {
	n := make(chan struct{}, 1)
	c.pubMu.Lock()
	c.subs[&n] = struct{}{}
	c.pubMu.Unlock()
	return n, func() {
		c.pubMu.Lock()
		delete(c.subs, &n)
		c.pubMu.Unlock()
	}
}

// Started returns a channel closed when Run's first discovery and join
// round has finished, whether or not any seed answered. The round takes at
// most the providers' lookups plus JoinTimeout.
func (c *Cluster) Started() <-chan struct{} { return c.started }

// SetMeta replaces this node's metadata and gossips it (memberlist
// UpdateNode). It assigns m.Version, validates and encodes m, and returns an
// error, leaving the old metadata in place, when m is invalid or encodes to
// more than MaxMetaSize bytes. It blocks until the update went out to some
// member or LeaveTimeout passed; either way the update then spreads by
// gossip.
func (c *Cluster) SetMeta(m Meta) error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	if m.Cluster == "" {
		m.Cluster = c.cfg.Cluster
	}
	m.Version = max(c.meta.Version+1, uint64(time.Now().UnixMilli()))
	enc, err := EncodeMeta(m)
	if err != nil {
		return fmt.Errorf("set node metadata: %w", err)
	}
	c.meta = m
	c.metaBytes.Store(&enc)
	if err := c.ml.UpdateNode(c.cfg.LeaveTimeout); err != nil {
		// The only error is the wait timing out; the new alive message is
		// queued and spreads anyway.
		c.log.Debug().Err(err).Msg("metadata update not yet acknowledged")
	}
	return nil
}

// Meta returns this node's current metadata, with its assigned Version.
func (c *Cluster) Meta() Meta {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	return c.meta
}

// Run joins the members the providers find, then keeps publishing Views
// and re-joining discovered addresses that are not live members every
// RejoinInterval (sooner while this node is alone). When ctx is cancelled it
// leaves gracefully (members see "left" at once instead of detecting a
// failure), withdraws this node from announcing providers, shuts memberlist
// down and returns nil. Run may be called once.
func (c *Cluster) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("membership: Run called twice")
	}
	var wg sync.WaitGroup
	loopCtx, stop := context.WithCancel(ctx)
	wg.Go(func() { c.rejoinLoop(loopCtx) })
	defer func() {
		stop()
		wg.Wait()
		c.stop(ctx, true)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-c.fatal:
			return err
		case <-c.events:
			c.publish()
		}
	}
}

// NameTakenError is Run's error when a member of the cluster already has
// this node's name: memberlist would keep that member and ignore this one.
type NameTakenError struct {
	Name string
	Addr string // the other member's gossip address
}

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("membership: the name %q is already used by the member at %s; memberlist would ignore this node: give it another name", e.Name, e.Addr)
}

// Close shuts memberlist down without a graceful leave, so members detect a
// failure (tests use it to simulate a crash). It is for a Cluster whose Run
// was never started or must stop abruptly; Run shuts down gracefully by
// itself and still returns when its ctx ends. Close is safe to call more
// than once.
func (c *Cluster) Close() error {
	c.stop(context.Background(), false)
	return nil
}

// stop leaves (if graceful), withdraws, shuts down and waits for abandoned
// joins, once.
func (c *Cluster) stop(ctx context.Context, graceful bool) {
	c.closeOnce.Do(func() {
		start := time.Now()
		if graceful {
			if err := c.ml.Leave(c.cfg.LeaveTimeout); err != nil {
				c.log.Warn().Err(err).Msg("leave not acknowledged")
			}
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LeaveTimeout)
			if err := withdraw(wctx, c.prov); err != nil {
				c.log.Warn().Err(err).Msg("withdraw from discovery")
			}
			cancel()
		}
		c.joinMu.Lock()
		c.stopped = true
		c.joinMu.Unlock()
		if err := c.ml.Shutdown(); err != nil {
			c.log.Warn().Err(err).Msg("memberlist shutdown")
		}
		c.joins.Wait() // the transport's dials end with Shutdown
		c.closeLog()
		c.log.Info().Bool("graceful", graceful).Dur("took", time.Since(start)).Msg("gossip stopped")
	})
}

// record copies a member out of a memberlist callback and wakes Run.
func (c *Cluster) record(n *memberlist.Node, alive bool) {
	a, _ := netip.AddrFromSlice(n.Addr)
	m := rawMember{name: n.Name, addr: netip.AddrPortFrom(a.Unmap(), n.Port), meta: bytes.Clone(n.Meta)}
	c.mu.Lock() // taken inside memberlist's lock, never the reverse
	if alive {
		c.members[m.name] = m
	} else {
		delete(c.members, m.name)
	}
	c.mu.Unlock()
	select {
	case c.events <- struct{}{}:
	default: // a publish is already pending
	}
}

// publish builds a View from the recorded members, stores it and notifies
// subscribers.
func (c *Cluster) publish() {
	c.mu.Lock()
	raw := make([]rawMember, 0, len(c.members))
	for _, m := range c.members {
		raw = append(raw, m)
	}
	c.mu.Unlock()
	slices.SortFunc(raw, func(a, b rawMember) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})

	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	prev := c.view.Load()
	v := &View{Members: make([]Member, 0, len(raw))}
	if prev != nil {
		v.Epoch = prev.Epoch + 1
	}
	seenBad := make(map[string]bool)
	for _, r := range raw {
		meta, err := DecodeMeta(r.meta)
		if err != nil {
			v.Invalid = append(v.Invalid, r.name)
			seenBad[r.name] = true
			if !c.invalid[r.name] {
				c.log.Warn().Str("peer", r.name).Err(err).Msg("member metadata undecodable; member ignored")
			}
			continue
		}
		m := Member{Name: r.name, Addr: r.addr, Meta: meta}
		v.Members = append(v.Members, m)
		if m.Name == c.cfg.Name {
			v.Self = m
		}
	}
	c.invalid = seenBad
	if v.Self.Name == "" { // before memberlist reported us (never after New)
		v.Self = Member{Name: c.cfg.Name, Addr: c.self, Meta: c.Meta()}
	}
	c.view.Store(v)
	if prev != nil && c.log.GetLevel() <= zerolog.InfoLevel {
		joined, left := diffMembers(prev, v)
		if len(joined)+len(left) > 0 {
			c.log.Info().Uint64("epoch", v.Epoch).Int("members", len(v.Members)).
				Strs("joined", joined).Strs("left", left).Msg("membership changed")
		}
	}
	for ch := range c.subs {
		select {
		case *ch <- struct{}{}:
		default:
		}
	}
}

func diffMembers(prev, next *View) (joined, left []string) {
	for _, m := range next.Members {
		if _, ok := prev.Member(m.Name); !ok {
			joined = append(joined, m.Name)
		}
	}
	for _, m := range prev.Members {
		if _, ok := next.Member(m.Name); !ok {
			left = append(left, m.Name)
		}
	}
	return joined, left
}

// rejoinLoop runs discovery rounds until ctx ends: the first at once, then
// every RejoinInterval, or with a backoff from 1s while nobody else is live
// (so a cluster whose seeds start late forms quickly).
func (c *Cluster) rejoinLoop(ctx context.Context) {
	backoff := time.Second
	first := true
	for {
		c.round(ctx)
		if first {
			if addr := c.taken.Load(); addr != nil {
				c.fatal <- &NameTakenError{Name: c.cfg.Name, Addr: *addr}
				return
			}
			c.firstRound.Store(true)
			close(c.started)
			first = false
		}
		wait := c.cfg.RejoinInterval
		if c.ml.NumMembers() <= 1 {
			wait = min(wait, backoff)
			backoff = min(2*backoff, c.cfg.RejoinInterval)
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// round announces this node, asks the providers for addresses and joins the
// ones that are not live members.
func (c *Cluster) round(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, max(c.cfg.RejoinInterval, 5*time.Second))
	defer cancel()
	if err := announce(dctx, c.prov, c.cfg.Name, c.self.String()); err != nil {
		c.log.Warn().Err(err).Msg("announce to discovery")
	}
	addrs, err := c.prov.Addrs(dctx)
	if err != nil {
		c.log.Warn().Err(err).Int("addrs", len(addrs)).Msg("discovery")
	}
	targets := c.notLive(addrs)
	if len(targets) == 0 {
		return
	}
	n, err := c.Join(ctx, targets)
	ev := c.log.Debug() // success shows as "membership changed" at info
	switch {
	case err != nil:
		// memberlist reports a seed that refuses us (another cluster name,
		// or a key it lacks) as a bare EOF; the seed's log says which.
		ev = c.log.Warn().Err(err).Str("hint", "EOF or decrypt errors mean the seed has another cluster name or gossip key")
	}
	ev.Int("contacted", n).Strs("targets", targets).Int("members", c.ml.NumMembers()).Msg("join round")
}

// maxJoinsPerRound caps parallel join attempts: one answering member is
// enough, since push/pull then teaches both sides every member.
const maxJoinsPerRound = 16

// notLive returns the discovered addresses that are not a live member's,
// de-duplicated, at most maxJoinsPerRound of them, in random order.
// Addresses that are not ip:port (host names) are always kept: memberlist
// resolves them and they cannot be compared.
func (c *Cluster) notLive(addrs []string) []string {
	live := make(map[string]bool)
	c.mu.Lock()
	for _, m := range c.members {
		live[m.addr.String()] = true
	}
	c.mu.Unlock()
	live[c.self.String()] = true
	var out []string
	seen := make(map[string]bool)
	for _, a := range addrs {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			a = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		}
		if live[a] || seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, a)
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if len(out) > maxJoinsPerRound {
		out = out[:maxJoinsPerRound]
	}
	return out
}

// ErrClosed is returned by Join after the Cluster stopped.
var ErrClosed = errors.New("membership: cluster stopped")

// Join contacts addrs (host:port) in parallel and merges state with those
// that answer, returning how many did. It waits at most JoinTimeout (or
// until ctx ends): memberlist's own Join dials one address after another
// and a dead one blocks for its TCP timeout, so each address is joined on
// its own and abandoned at the deadline; an abandoned attempt ends by its
// TCP timeout or at shutdown, and the address is skipped until it has.
func (c *Cluster) Join(ctx context.Context, addrs []string) (int, error) {
	type result struct {
		addr string
		err  error
	}
	results := make(chan result, len(addrs)) // buffered: late attempts never block
	started := 0
	c.joinMu.Lock() // held while starting attempts, so stop cannot begin waiting meanwhile
	if c.stopped {
		c.joinMu.Unlock()
		return 0, ErrClosed
	}
	for _, a := range addrs {
		if c.joining[a] {
			continue
		}
		c.joining[a] = true
		started++
		c.joins.Go(func() {
			defer func() {
				c.joinMu.Lock()
				delete(c.joining, a)
				c.joinMu.Unlock()
			}()
			_, err := c.ml.Join([]string{a})
			results <- result{a, err}
		})
	}
	c.joinMu.Unlock()
	if started == 0 {
		return 0, nil // every address still has an earlier attempt in flight
	}
	deadline := time.NewTimer(c.cfg.JoinTimeout)
	defer deadline.Stop()
	var (
		ok   int
		errs []error
	)
wait:
	for done := 0; done < started; done++ {
		select {
		case r := <-results:
			if r.err != nil {
				errs = append(errs, fmt.Errorf("join %s: %w", r.addr, flatError{r.err}))
			} else {
				ok++
			}
		case <-deadline.C:
			errs = append(errs, fmt.Errorf("join: %d of %d addresses did not answer within %v", started-done, started, c.cfg.JoinTimeout))
			break wait
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("join: %w", ctx.Err()))
			break wait
		}
	}
	if ok > 0 {
		return ok, nil
	}
	return 0, errors.Join(errs...)
}

// flatError puts memberlist's multi-line join errors ("1 error occurred:\n\t*
// ...") on one line for the log; Unwrap keeps the chain.
type flatError struct{ err error }

func (e flatError) Error() string {
	parts := strings.Split(strings.TrimSpace(e.err.Error()), "\n\t* ")
	if len(parts) > 1 && strings.HasSuffix(parts[0], "occurred:") {
		parts = parts[1:] // the "N errors occurred:" header
	}
	return strings.Join(strings.Fields(strings.Join(parts, "; ")), " ")
}

func (e flatError) Unwrap() error { return e.err }

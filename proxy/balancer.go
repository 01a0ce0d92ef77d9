package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/proxy/ajp"
	"github.com/tether-proxy/tether/proxy/h1"
	"github.com/tether-proxy/tether/replication"
	"github.com/tether-proxy/tether/routing"
)

// Balancer is one reverse_proxy block: a named set of members, the routing
// table built from them, and the reverse proxy that carries requests there.
//
// The members and their table are one immutable memberSet behind an atomic
// pointer; a state change or a discovery update builds a new set that keeps
// the same *member values (and so their counters and health).
type Balancer struct {
	name string
	cfg  *config.Balancer
	// headerUp and headerDown are header_up and header_down, compiled.
	headerUp, headerDown []headerOp
	// upReplaces: some header_up op is a replace (forward.go).
	upReplaces bool
	// intercepts are handle_response and replace_status, compiled with
	// the site's pipeline (nil: every answer passes as it is).
	intercepts []*responseHandler
	names      routing.SessionNames
	opts       routing.Options
	log        zerolog.Logger
	now        func() time.Time
	srv        *Server   // for the error page
	site       *site     // for forwarded-header trust
	affinity   *affinity // signs sticky cookie values: the server's, or the balancer's own secret
	// healthBody is health_body, compiled; nil checks no body.
	healthBody *regexp.Regexp

	set atomic.Pointer[memberSet]

	// mu serializes rebuilds; the hot path never takes it.
	mu sync.Mutex
	// healthMu serializes passive failures, so that the cap on members
	// out holds when several fail at once.
	healthMu sync.Mutex

	rp *httputil.ReverseProxy
	tr *transports // builds its members' transports

	// tab is the replicated session table (pins, learned sessions); nil
	// when the server has none. hasStore: it reads a shared store on a miss.
	tab      *replication.Table
	hasStore bool
	fetchers chan struct{} // store reads in flight (see fetch)

	// pins bounds the new failover pins (see pins.go); pinsRefused counts
	// those it refused, lastPinWarn is when that was last logged (Unix s).
	pins        *pinLimiter
	pinsRefused atomic.Uint64
	lastPinWarn atomic.Int64

	// ec2 is the balancer's discover ec2; nil without one.
	ec2 *ec2Discovery

	// queue holds requests waiting for a member at max_conns (queue.go);
	// nil when no member has a limit.
	queue *waitQueue

	// forwarded counts the requests forward.go carried (the rest went
	// through rp).
	forwarded atomic.Uint64

	failovers atomic.Uint64
	noMember  atomic.Uint64
	recent    failoverLog // the last failovers and retries, for the status page

	// Issue 15. budget is retry_budget, nil without one (retrybudget.go);
	// ejections counts outlier ejections, ejectionsKept outliers left in
	// because max_ejection was reached (outlier.go).
	budget        *retryBudget
	ejections     atomic.Uint64
	ejectionsKept atomic.Uint64
}

// memberSet is an immutable pairing of members and the routing table built
// from them: table.Members()[i] describes members[i].
type memberSet struct {
	table   *routing.Table
	members []*member
	// noGRPC says why gRPC calls are refused (a member speaks only
	// HTTP/1.1 or AJP); "" when every member can carry them.
	noGRPC string
	// hasAJP: some member speaks AJP, so requests carry ajp.ClientInfo
	// (configured members, and those discovered through the cluster or
	// EC2 tags alike).
	hasAJP bool
	// allH1: every member is reached through proxy/h1 (forward.go).
	allH1 bool
}

func policyOf(s string) (routing.Policy, error) {
	if s == "" {
		return routing.RoundRobin, nil
	}
	p, ok := routing.ParsePolicy(s)
	if !ok {
		return 0, fmt.Errorf("unknown lb_policy %q", s)
	}
	return p, nil
}

func newBalancer(srv *Server, cfg *config.Balancer, log zerolog.Logger) (*Balancer, error) {
	pol, err := policyOf(cfg.LBPolicy)
	if err != nil {
		return nil, fmt.Errorf("%s: balancer %s: %w", cfg.Pos, cfg.Name, err)
	}
	fallback := routing.Random // Caddy's default for header and query
	if cfg.LBFallback != "" {
		if fallback, err = policyOf(cfg.LBFallback); err != nil {
			return nil, fmt.Errorf("%s: balancer %s: fallback: %w", cfg.Pos, cfg.Name, err)
		}
	}
	if cfg.Sticky.Mode == "learn" && srv.opts.Sessions == nil && !srv.opts.CheckOnly {
		return nil, fmt.Errorf("%s: balancer %s: sticky learn needs the session table (Options.Sessions)", cfg.Pos, cfg.Name)
	}
	b := &Balancer{
		name:       cfg.Name,
		cfg:        cfg,
		headerUp:   compileHeaderOps(cfg.HeaderUp),
		headerDown: compileHeaderOps(cfg.HeaderDown),
		upReplaces: slices.ContainsFunc(cfg.HeaderUp, func(o config.HeaderOp) bool { return o.Op == "replace" }),
		names: routing.SessionNames{
			Cookie:    cmp(cfg.Sticky.Cookie, "JSESSIONID"),
			PathParam: cmp(cfg.Sticky.PathParam, "jsessionid"),
		},
		opts: routing.Options{Policy: pol, StickyForce: cfg.Sticky.Force, Fallback: fallback, Choose: cfg.LBChoose},
		log:  log.With().Str("balancer", cfg.Name).Logger(),
		now:  time.Now,
		srv:  srv,
		tab:  srv.opts.Sessions,
	}
	b.affinity = srv.affinity
	if cfg.HealthBody != "" {
		if b.healthBody, err = regexp.Compile(cfg.HealthBody); err != nil {
			return nil, fmt.Errorf("%s: balancer %s: health_body: %w", cfg.Pos, cfg.Name, err)
		}
	}
	if cfg.Sticky.Secret != "" {
		b.affinity = newAffinity([]byte(cfg.Sticky.Secret))
	}
	b.hasStore = b.tab != nil && srv.opts.SessionStore
	b.budget = newRetryBudget(cfg.RetryBudget)
	b.fetchers = make(chan struct{}, storeFetchers)
	b.pins = newPinLimiter(pinBurst, pinRate)
	if b.tr, err = newTransports(cfg, srv.ajpTransport); err != nil {
		return nil, fmt.Errorf("balancer %s: %w", cfg.Name, err)
	}
	members := make([]*member, 0, len(cfg.Members))
	for _, mc := range cfg.Members {
		m, err := newMember(b.tr, mc)
		if err != nil {
			return nil, fmt.Errorf("%s: balancer %s: %w", mc.Pos, cfg.Name, err)
		}
		members = append(members, m)
	}
	if cfg.MaxConns > 0 || slices.ContainsFunc(members, func(m *member) bool { return m.maxConns > 0 }) {
		b.queue = newWaitQueue(cfg.MaxQueue, cfg.QueueTimeout)
	}
	if err := b.install(members); err != nil {
		return nil, fmt.Errorf("%s: balancer %s: %w", cfg.Pos, cfg.Name, err)
	}
	if d := cfg.DiscoverEC2; d != nil && !srv.opts.CheckOnly {
		if b.ec2, err = newEC2Discovery(d, b.log); err != nil {
			return nil, fmt.Errorf("%s: balancer %s: %w", d.Pos, cfg.Name, err)
		}
	}
	b.rp = &httputil.ReverseProxy{
		Rewrite:        b.rewrite,
		ModifyResponse: b.modifyResponse,
		Transport:      roundTripFunc(b.roundTrip),
		ErrorHandler:   b.proxyError,
		ErrorLog:       newStdLogger(b.log, "reverse proxy"),
		BufferPool:     bufferPool{},
		// FlushInterval 0: Go flushes at once for text/event-stream and
		// responses of unknown length, which covers streaming members and
		// every gRPC answer (gRPC sends no Content-Length): each message
		// reaches the client as the member sends it. Caddy's flush_interval
		// sets it for the rest (-1: after every write).
		FlushInterval: cfg.FlushInterval,
	}
	return b, nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// install builds a table from members and publishes it.
func (b *Balancer) install(members []*member) error {
	rms := make([]routing.Member, len(members))
	for i, m := range members {
		rms[i] = routing.Member{
			Name:     m.name,
			Domain:   m.domain,
			Redirect: m.redirect,
			Weight:   m.weight,
			State:    routing.State(m.state.Load()),
			Load:     m.load,
			MaxConns: m.maxConns,
		}
	}
	t, err := routing.NewTable(rms, b.opts)
	if err != nil {
		return err
	}
	hasAJP := slices.ContainsFunc(members, func(m *member) bool { return m.target.Scheme == "ajp" })
	allH1 := !slices.ContainsFunc(members, func(m *member) bool { _, ok := m.rt.(*h1.Client); return !ok })
	b.set.Store(&memberSet{table: t, members: members, noGRPC: grpcRefusal(members), hasAJP: hasAJP, allH1: allH1})
	return nil
}

// SetState changes a member's operator state and republishes the table.
func (b *Balancer) SetState(name string, st routing.State) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	set := b.set.Load()
	i := slices.IndexFunc(set.members, func(m *member) bool { return m.name == name })
	if i < 0 {
		return fmt.Errorf("balancer %s has no member %q: %w", b.name, name, ErrNotFound)
	}
	was := routing.State(set.members[i].state.Swap(uint32(st)))
	if err := b.install(set.members); err != nil {
		return err
	}
	b.becameUsable(set.members[i], was, st) // slowstart.go
	b.log.Info().Str("member", name).Stringer("state", st).Msg("member state changed")
	return nil
}

// setStateIfDifferent is SetState for a state replicated from elsewhere: it
// does nothing (and logs nothing) when the member is already in st.
func (b *Balancer) setStateIfDifferent(name string, st routing.State) error {
	for _, m := range b.set.Load().members {
		if m.name == name && routing.State(m.state.Load()) == st {
			return nil
		}
	}
	return b.SetState(name, st)
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// ErrNotFound is returned for a balancer or member the running config
// does not have.
var ErrNotFound = errors.New("not found")

// reqState is what one proxied request carries through the reverse proxy:
// the routing request, the decision, and the member that holds its in-flight
// count. It lives in the request context under stateKey.
type reqState struct {
	b        *Balancer
	set      *memberSet
	req      routing.Request
	dec      routing.Decision
	cur      *member // the member counting this request in flight
	grpc     bool    // a gRPC call: it goes over the members' HTTP/2 transports
	attempts int
	start    time.Time
	retried  bool

	// The session as the table knows it (see findSession): the key it is
	// stored under, and whether the table's route replaced the request's.
	key    string
	pinned bool
	secure bool // the client came over HTTPS (for the affinity cookie)

	// trusted are the proxies whose X-Forwarded-* the request's site
	// believes: a balancer mounted in several sites serves each with its
	// own.
	trusted *trustedProxies

	// client is the incoming request's context: it ends when the client
	// goes away. The outbound request may run on a context of its own
	// (see ServeHTTP).
	client context.Context

	// in is the incoming request (for placeholders in answers);
	// intercept, the member's answer a handle_response block took.
	in        *http.Request
	intercept *interception

	// ctx is the exchange's context (see serve).
	ctx stateCtx

	// Of a request forward carries: its outbound URL, and the client's
	// writer while the member may send 1xx answers.
	url url.URL
	w   http.ResponseWriter
}

// clientGone reports whether the client went away (it closed or reset its
// connection or stream, or the server is cutting requests at shutdown).
func (st *reqState) clientGone() bool { return st.client.Err() != nil }

type stateKey struct{}

// stateCtx is the context of a request's exchange with its members: its
// parent's, with the request's reqState as the value of stateKey. It lives
// in the reqState (no allocation of its own).
type stateCtx struct {
	context.Context
	st *reqState
}

func (c *stateCtx) Value(k any) any {
	if _, ok := k.(stateKey); ok {
		return c.st
	}
	return c.Context.Value(k)
}

// ServeHTTP routes one request of the balancer's first site; see serve.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.serve(w, r, b.site) }

// serve routes one request that came through site s: pick a member
// (sticky, failover or balanced), then proxy to it, retrying on failure as
// roundTrip says. A balancer mounted in several sites (one mod_jk worker in
// several virtual hosts) keeps one state, but each request is judged by
// its own site's trusted proxies.
func (b *Balancer) serve(w http.ResponseWriter, r *http.Request, s *site) {
	set := b.set.Load()
	grpc := isGRPC(r)
	if grpc && set.noGRPC != "" {
		b.refuseGRPC(w, r, set.noGRPC)
		return
	}
	st := &reqState{b: b, set: set, start: b.now(), client: r.Context(), grpc: grpc, trusted: s.trusted}
	if b.budget != nil {
		b.budget.request(st.start.UnixNano())
	}
	b.findSession(r, st)
	b.balanceKeys(r, st)
	dec, err := set.table.Pick(&st.req)
	if b.cfg.TryDuration > 0 && errors.Is(err, routing.ErrNoMember) {
		dec, err = b.waitPick(r.Context(), st) // lb_try_duration: wait for a member
	}
	st.dec = dec
	if err != nil && !errors.Is(err, routing.ErrBusy) {
		b.noMember.Add(1)
		b.srv.proxyError(w, r, err)
		return
	}
	if err := b.admit(st, err); err != nil { // queue.go: a slot of the member, or wait for one
		if _, ok := errors.AsType[*queueError](err); !ok && !st.clientGone() {
			b.noMember.Add(1) // the member it waited for went down and nothing is left
		}
		b.srv.proxyError(w, r, err)
		return
	}
	dec = st.dec
	if dec.From != "" {
		b.failovers.Add(1)
		b.recent.add(FailoverEvent{At: st.start, From: dec.From, To: dec.Member.Name, Reason: dec.Reason.String()})
		if e := b.log.Debug(); e.Enabled() {
			e.Str("from_route", dec.From).Str("to_route", dec.Member.Name).Msg("session failed over")
		}
	}
	if set.hasAJP {
		r = withAJPClientInfo(r, st.trusted)
	}
	st.in = r
	st.ctx.st = st
	st.ctx.Context = r.Context()
	if r.ProtoMajor == 1 {
		// net/http cancels an HTTP/1.x request's context when the client
		// shuts its write side, which a client may do once it has sent its
		// request (as HAProxy, Tether then waits for the member's answer
		// and sends it). The exchange with the member runs on a context
		// that is not cancelled; a client that went away for good is
		// noticed when its answer cannot be written. HTTP/2 keeps the
		// request's context: a reset stream asks for no answer.
		st.ctx.Context = context.WithoutCancel(st.ctx.Context)
	}
	defer func() {
		// Deferred: a copy error ends the reverse proxy with a panic
		// (http.ErrAbortHandler) that must not leak the in-flight count.
		if st.cur != nil {
			b.release(st.cur)
			st.cur = nil
		}
		setChosen(r, st)
	}()
	if b.forwards(r, st) {
		b.forward(w, r, st) // forward.go: ReverseProxy's work for the common request
		return
	}
	b.rp.ServeHTTP(w, r.WithContext(&st.ctx))
}

// balanceKeys fills in what the balancing policy (and its fallback)
// decides on for a request without a session: the client address, a
// random value, or the key a hash policy hashes (Caddy's: the request URI
// as the client sent it, a header's value, a query parameter's values
// joined with commas, so a client sending one twice cannot pick the
// first).
func (b *Balancer) balanceKeys(r *http.Request, st *reqState) {
	for _, p := range [2]routing.Policy{b.opts.Policy, b.opts.Fallback} {
		switch p {
		case routing.IPHash:
			st.req.ClientAddr = clientHost(r, st.trusted)
		case routing.Random, routing.P2C, routing.RandomChoose:
			st.req.Rand = rand.Uint64()
		case routing.RoundRobin:
			if b.cfg.SlowStart > 0 {
				st.req.Rand = rand.Uint64() // a warming member turns requests down at random
			}
		case routing.URIHash:
			st.req.Key = r.RequestURI
			if st.req.Key == "" {
				st.req.Key = r.URL.RequestURI()
			}
		case routing.HeaderHash:
			if b.cfg.LBKey == "Host" {
				st.req.Key = r.Host
			} else {
				st.req.Key = r.Header.Get(b.cfg.LBKey)
			}
		case routing.QueryHash:
			st.req.Key = queryValues(r.URL.RawQuery, b.cfg.LBKey)
		}
		if !b.opts.Policy.Keyed() {
			break // the fallback is not used
		}
	}
}

// queryValues returns the values of the query parameter name in raw,
// unescaped and joined with commas; it allocates only for a parameter
// given more than once or escaped.
func queryValues(raw, name string) string {
	var out string
	n := 0
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != name {
			if ku, err := url.QueryUnescape(k); err != nil || ku != name || k == ku {
				continue
			}
		}
		if strings.ContainsAny(v, "%+") {
			if vu, err := url.QueryUnescape(v); err == nil {
				v = vu
			}
		}
		if n == 0 {
			out = v
		} else {
			out += "," + v
		}
		n++
	}
	return out
}

// isGRPC reports whether r is a gRPC call (not gRPC-Web, which works over
// HTTP/1.1): it needs HTTP/2 to the member, trailers and all.
func isGRPC(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	rest, ok := strings.CutPrefix(ct, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// refuseGRPC answers a gRPC call the balancer cannot carry (a member
// speaks HTTP/1.1 or AJP, why says which) with a gRPC error the client
// shows as it is, instead of sending a member a request it cannot
// understand and counting its answer against it.
func (b *Balancer) refuseGRPC(w http.ResponseWriter, r *http.Request, why string) {
	setLoggedStatus(r, http.StatusBadRequest, "")
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", "12") // UNIMPLEMENTED
	h.Set("Grpc-Message", "tether: balancer "+b.name+": "+why)
	w.WriteHeader(http.StatusBadRequest)
}

// modifyResponse records what the member's answer says about the session
// (failover pins, learned sessions, the affinity cookie), hands it to
// handle_response or replace_status when one takes it, and applies
// header_down.
func (b *Balancer) modifyResponse(resp *http.Response) error {
	if st, ok := resp.Request.Context().Value(stateKey{}).(*reqState); ok {
		b.recordSession(resp, st)
		if len(b.intercepts) > 0 {
			if err := b.intercept(resp, st); err != nil {
				return err // the error handler runs handle_response's routes
			}
		}
	}
	for i := range b.headerDown {
		b.headerDown[i].apply(resp.Header, resp.Request, resp.Request.URL.Host)
	}
	return nil
}

// proxyError is the reverse proxy's error handler: a member's answer a
// handle_response block took goes to its routes, anything else to the
// server's error mapping.
func (b *Balancer) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errIntercepted) {
		if st, ok := r.Context().Value(stateKey{}).(*reqState); ok && st.intercept != nil {
			b.handleIntercepted(w, r, st)
			return
		}
	}
	b.srv.proxyError(w, r, err)
}

// rewrite points the outbound request at the chosen member. The incoming
// Host is kept (as HAProxy and mod_jk do), so the member builds its URLs and
// cookies for the name the client used.
func (b *Balancer) rewrite(pr *httputil.ProxyRequest) {
	b.rewriteFor(pr, pr.In.Context().Value(stateKey{}).(*reqState))
}

// rewriteFor is rewrite for the request st describes.
func (b *Balancer) rewriteFor(pr *httputil.ProxyRequest, st *reqState) {
	m := st.set.members[st.dec.Index]
	t := m.target
	pr.Out.URL.Scheme = m.scheme
	pr.Out.URL.Host = t.Host
	pr.Out.Host = pr.In.Host
	b.srv.setForwarded(pr, st.trusted)
	dropSSLHeaders(pr.Out.Header)
	if b.cfg.ClientCertHeaders == "apache" {
		setApacheCertHeaders(pr.Out.Header, pr.In, st.trusted)
	}
	for i := range b.headerUp {
		op := &b.headerUp[i]
		if op.field == "Host" && (op.op == "set" || op.op == "default") {
			pr.Out.Host = op.valueFor(pr.In, t.Host) // net/http sends Request.Host, not Header["Host"]
			continue
		}
		op.apply(pr.Out.Header, pr.In, t.Host)
	}
}

// roundTrip sends the outbound request to the chosen member and, when that
// fails in a way that is safe to retry, to the failover member the routing
// table picks with the failed members excluded:
//   - a request that never reached its member (connect refused, nothing
//     written, its head's write failed before any of its body was read) is
//     retried whatever its method;
//   - other failures are retried only for idempotent methods without a
//     consumed body.
//
// Retries stop at retries (lb_retries), once the request has tried for
// lb_try_duration, or when the retry_budget refuses one; with
// lb_try_duration, a request with no member left to try waits for one
// (waitPick). Each attempt's answer feeds the member's outlier counts.
//
// It works only on requests ServeHTTP prepared (their reqState), so it is
// the reverse proxy's transport and nobody else's.
func (b *Balancer) roundTrip(out *http.Request) (*http.Response, error) {
	st := out.Context().Value(stateKey{}).(*reqState)
	var body *clientBody
	if out.Body != nil && out.Body != http.NoBody {
		body = &clientBody{rc: out.Body}
		out.Body = body
	}
	for {
		if st.cur == nil {
			// A retry: it waits for a slot of its new member as any
			// request does (serve took the first attempt's).
			if err := b.admit(st, nil); err != nil {
				return nil, err
			}
			if c := st.cur; out.URL.Host != c.target.Host {
				// Its member went down while it waited: it picked again.
				out = out.Clone(out.Context())
				out.URL.Scheme, out.URL.Host = c.scheme, c.target.Host
			}
		}
		m := st.cur
		m.load.Requests.Add(1)
		st.attempts++
		t0 := b.now()
		rt := m.rt
		if st.grpc {
			rt = m.grpc
		}
		resp, err := rt.RoundTrip(out)
		if err == nil {
			m.requests.Add(1)
			d := b.now().Sub(t0)
			m.observe(resp.StatusCode, d)
			if b.cfg.Outlier != nil {
				m.outlier.answer(resp.StatusCode, d)
			}
			if slices.Contains(b.cfg.FailOnStatus, resp.StatusCode) {
				b.memberFailed(m, fmt.Sprintf("status %d", resp.StatusCode))
			} else {
				m.passiveOK()
			}
			return resp, nil
		}
		b.release(m)
		st.cur = nil
		if ce := st.clientFault(body, err); ce != nil {
			return nil, ce // the member, its counters and its health are not touched
		}
		if _, ok := errors.AsType[*noH2Error](err); ok {
			// The member is up and serving HTTP/1.1: the call is refused,
			// the member is not at fault.
			return nil, err
		}
		m.responses[0].Add(1)
		if b.cfg.Outlier != nil {
			m.outlier.failure()
		}
		b.memberFailed(m, failReason(err))
		if !b.retryable(out, body, err) || st.attempts > b.cfg.Retries || b.tryTimeUp(st) {
			return nil, err
		}
		st.req.Exclude |= 1 << uint(st.dec.Index)
		dec, perr := st.set.table.Pick(&st.req)
		if errors.Is(perr, routing.ErrStickyForced) {
			return nil, fmt.Errorf("%w (member %s: %w)", perr, m.name, err)
		}
		if b.cfg.TryDuration > 0 && errors.Is(perr, routing.ErrNoMember) {
			dec, perr = b.waitPick(out.Context(), st)
		}
		if perr != nil && !errors.Is(perr, routing.ErrBusy) {
			return nil, err // nothing left to try: report the member's failure
		}
		if b.budget != nil && !b.budget.allow(b.now().UnixNano()) {
			b.retryRefused(m, err)
			return nil, err
		}
		if errors.Is(perr, routing.ErrBusy) {
			// Every other member is at max_conns: wait for one.
			if aerr := b.admit(st, perr); aerr != nil {
				return nil, aerr
			}
			dec = st.dec
		}
		m.retried.Add(1)
		st.retried = true
		if dec.From == "" && st.dec.Reason == routing.ReasonSticky {
			dec.From = m.name
		}
		st.dec = dec
		b.recent.add(FailoverEvent{At: b.now(), From: m.name, To: dec.Member.Name, Reason: "retry: " + failReason(err)})
		if e := b.log.Debug(); e.Enabled() {
			e.Str("member", m.name).Str("to_member", dec.Member.Name).Err(err).Msg("retrying on another member")
		}
		next := out.Clone(out.Context())
		next.URL.Scheme = st.set.members[dec.Index].scheme
		next.URL.Host = st.set.members[dec.Index].target.Host
		out = next
	}
}

// retryable reports whether a failed attempt may be sent to another member.
func (b *Balancer) retryable(out *http.Request, body *clientBody, err error) bool {
	if body != nil && body.read.Load() {
		return false // part of the body is gone; it cannot be replayed
	}
	if notSent(err) || writeFailed(err) {
		return true
	}
	switch out.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return body == nil
	}
	return false
}

// notSent reports whether err means the request never reached the member.
func notSent(err error) bool {
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return true
	}
	return errors.Is(err, ajp.ErrNotSent)
}

// writeFailed reports whether err is a failed write of the request to the
// member's connection, with none of its body consumed (retryable checks
// that first): the member cannot have received the whole request head. It
// is what an HTTP/2 member that died under a live connection gives the
// next request before the connection's reader notices (net/http retries
// the HTTP/1.1 case itself).
func writeFailed(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "write"
}

func failReason(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case notSent(err):
		return "connect failed"
	}
	return "transport error"
}

// memberFailed records a passive failure and logs when it takes the member
// out of rotation. Passive health never takes out more than half of the
// balancer's members (counting those already out for any reason): however
// a failure was classified, what traffic alone can do to a balancer is
// bounded, and the rest keep serving until active checks say otherwise.
func (b *Balancer) memberFailed(m *member, reason string) {
	b.healthMu.Lock()
	defer b.healthMu.Unlock()
	members := b.set.Load().members
	out := 0
	for _, o := range members {
		if !o.load.Healthy.Load() {
			out++
		}
	}
	mayTakeOut := out+1 <= len(members)/2
	switch m.passiveFail(b.now(), b.cfg.MaxFails, orDefault(b.cfg.RecoverTime, 30*time.Second), reason, mayTakeOut) {
	case failTookOut:
		b.log.Warn().Str("member", m.name).Str("reason", reason).Msg("member down")
	case failKept:
		b.log.Warn().Str("member", m.name).Str("reason", reason).Int("out", out).Int("members", len(members)).
			Msg("member failing but kept in rotation: half the balancer is out already")
	}
}

// clientBody passes the client's request body to a member. Its read errors
// are the client's doing (a malformed chunk, a body shorter than its
// Content-Length, one too large or too slow, a stream the client reset), not
// the member's: they come back from the transport as a *clientError, and
// failed stays set whatever the transport makes of the error. read says
// whether any of the body was consumed, so that a failed attempt that read
// nothing can be sent again. Close is a no-op: the transport closes bodies
// on errors, and the server closes the real body when the handler returns.
type clientBody struct {
	rc     io.ReadCloser
	read   atomic.Bool
	failed atomic.Pointer[clientError]
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 || err == nil {
		b.read.Store(true)
	}
	if err != nil && err != io.EOF {
		ce := &clientError{status: clientBodyStatus(err), err: err}
		b.failed.CompareAndSwap(nil, ce)
		return n, ce
	}
	return n, err
}

func (b *clientBody) Close() error { return nil }

// clientError is a failure the client caused; status is its answer.
type clientError struct {
	status int
	err    error
}

func (e *clientError) Error() string { return "client request: " + e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

// clientBodyStatus is the answer to a request whose body failed with err.
func clientBodyStatus(err error) int {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return http.StatusRequestEntityTooLarge
	}
	if isTimeout(err) {
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest // malformed, or shorter than announced
}

// clientFault returns the client's part in a failed attempt, or nil when
// the failure is the member's.
func (st *reqState) clientFault(body *clientBody, err error) *clientError {
	if ce, ok := errors.AsType[*clientError](err); ok {
		return ce
	}
	if body != nil {
		if ce := body.failed.Load(); ce != nil {
			return ce
		}
	}
	if isHeadersTooLarge(err) {
		// Too large for every member (AJP's packet): the client's to fix.
		return &clientError{status: http.StatusRequestEntityTooLarge, err: err}
	}
	if st.clientGone() && errors.Is(err, context.Canceled) {
		// The exchange was cancelled because the client left (a reset
		// HTTP/2 stream): the member did nothing wrong.
		return &clientError{status: statusClientGone, err: err}
	}
	return nil
}

// statusClientGone is what the access log records for a request whose
// client went away before its answer (nginx's 499); nothing is written.
const statusClientGone = 499

// Run keeps members' health current: it puts passively failed members back
// after their recover time and, with health_uri set, probes every member.
// With discover ec2 it also lists the EC2 members every refresh.
func (b *Balancer) Run(ctx context.Context) error {
	if b.ec2 != nil {
		var wg sync.WaitGroup
		wg.Go(func() { b.runEC2(ctx) })
		defer wg.Wait()
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var probe, judge <-chan time.Time
	if o := b.cfg.Outlier; o != nil {
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		judge = t.C
	}
	active := b.cfg.HealthURI != "" || b.cfg.AJPPing
	if active {
		t := time.NewTicker(orDefault(b.cfg.HealthInterval, 5*time.Second))
		defer t.Stop()
		probe = t.C
		b.probeAll(ctx) // first results before traffic settles
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			now := b.now()
			set := b.set.Load()
			for i, m := range set.members {
				ejected, at, _ := m.ejection()
				if m.recoverIfDue(now, active) {
					set.table.CatchUp(i) // least_requests: no burst onto the returning member
					b.startRamp(m, now)
					if ejected {
						b.recent.add(FailoverEvent{At: now, To: m.name, Reason: "back after ejection of " + now.Sub(at).Round(time.Millisecond).String()})
						b.log.Info().Str("member", m.name).Msg("member back after ejection")
					} else {
						b.log.Info().Str("member", m.name).Msg("member back after recover time")
					}
				}
				b.ramp(m, now)
			}
			if b.queue != nil {
				b.queue.dispatchAll() // members back, sessions whose member went down
			}
		case <-judge:
			b.judgeOutliers(b.now())
		case <-probe:
			b.probeAll(ctx)
		}
	}
}

// probeAll runs one active health check of every member, concurrently, and
// waits for them.
func (b *Balancer) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	set := b.set.Load()
	for i, m := range set.members {
		wg.Go(func() {
			reason := b.probe(ctx, m)
			healthy, changed := m.probeResult(reason == "", b.cfg.HealthFails, b.cfg.HealthPasses, reason)
			if changed && healthy {
				set.table.CatchUp(i)
				b.startRamp(m, b.now())
			}
			if changed {
				ev := b.log.Info()
				if !healthy {
					ev = b.log.Warn().Str("reason", reason)
				}
				ev.Str("member", m.name).Bool("healthy", healthy).Msg("health check changed member health")
			}
		})
	}
	wg.Wait()
}

// probe checks one member and returns "" when healthy, else the reason.
func (b *Balancer) probe(ctx context.Context, m *member) string {
	ctx, cancel := context.WithTimeout(ctx, orDefault(b.cfg.HealthTimeout, 2*time.Second))
	defer cancel()
	if p, ok := m.rt.(pinger); ok && m.target.Scheme == "ajp" {
		if err := p.Ping(ctx, m.target.Host); err != nil {
			return "cping: " + err.Error()
		}
		return ""
	}
	if b.cfg.HealthURI == "" {
		return "" // ajp_ping only: http members have no active check
	}
	u := *m.target
	u.Scheme = m.scheme
	u.Path = b.cfg.HealthURI
	if b.cfg.HealthPort != 0 {
		u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(b.cfg.HealthPort))
	}
	method := cmp(b.cfg.HealthMethod, http.MethodGet)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("User-Agent", "tether-health-check")
	for _, h := range b.cfg.HealthHeaders {
		if h.Name == "Host" {
			req.Host = h.Values[0] // net/http sends Request.Host, not Header["Host"]
			continue
		}
		req.Header[h.Name] = h.Values
	}
	resp, err := m.rt.RoundTrip(req)
	if err != nil {
		return failReason(err)
	}
	defer resp.Body.Close()
	if !healthy(b.cfg.HealthStatus, resp.StatusCode) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, healthBodyMax))
		return fmt.Sprintf("health status %d", resp.StatusCode)
	}
	if b.healthBody == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, healthBodyMax))
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, healthBodyMax))
	if err != nil {
		return "health body: " + failReason(err)
	}
	if !b.healthBody.Match(body) {
		return "health body does not match"
	}
	return ""
}

// healthBodyMax is how much of an active check's answer is read (and
// matched against health_body).
const healthBodyMax = 64 << 10

// healthy reports whether an active check's status passes: want is
// health_status, any of its statuses ("200", or a class such as "2xx");
// none passes 2xx and 3xx.
func healthy(want []string, code int) bool {
	if len(want) == 0 {
		return code >= 200 && code < 400
	}
	for _, w := range want {
		switch {
		case len(w) == 3 && w[1:] == "xx":
			if code/100 == int(w[0]-'0') {
				return true
			}
		case len(w) == 3 && code >= 100 && code <= 999 && int(w[0]-'0')*100+int(w[1]-'0')*10+int(w[2]-'0') == code:
			return true
		}
	}
	return false
}

// pinger is the part of the AJP transport active checks use (CPing/CPong).
type pinger interface {
	Ping(ctx context.Context, addr string) error
}

// bufferPool recycles the 32 KiB copy buffers of the reverse proxy.
type bufferPool struct{}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBufs.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBufs.Put(&b) }

// roundTripFunc is a function as an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

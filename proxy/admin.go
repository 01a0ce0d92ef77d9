package proxy

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tether-proxy/tether/routing"
)

// adminServer is the admin listener: /healthz for the load balancer in
// front, the JSON status, and member state changes.
type adminServer struct {
	s     *Server
	addr  string
	token string
	hosts adminHosts // the Host names requests may use
	ln    net.Listener
	srv   *http.Server
	fresh freshConns

	metrics  *metrics                        // GET /metrics
	page     *statusPage                     // GET /
	sessions atomic.Pointer[sessionStatsBox] // set by SetSessionStats
}

func newAdminServer(s *Server, addr, token string, origins []string) (*adminServer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	if token == "" && !isLoopbackHost(host) {
		return nil, fmt.Errorf("admin listener %s is not on loopback: set admin_token (or bind it to 127.0.0.1)", addr)
	}
	a := &adminServer{s: s, addr: addr, token: token, hosts: newAdminHosts(host, origins)}
	a.metrics = newMetrics(s)
	a.page = newStatusPage(s)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", a.page)
	mux.Handle("GET /metrics", a.metrics.handler())
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /api/status", a.status)
	mux.HandleFunc("PUT /api/balancers/{balancer}/members/{member}/state", a.setState)
	mux.HandleFunc("POST /api/reload", a.reload)
	a.srv = &http.Server{
		Handler:           a.checkHost(a.auth(sameOrigin(mux))),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          newStdLogger(s.log, "admin"),
		ConnState:         a.fresh.track,
	}
	return a, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// adminHosts are the names a request to the admin API may give in Host,
// besides loopback ones and the address its connection arrived on. A page
// on another site that rebinds its own name to 127.0.0.1 (DNS rebinding)
// is same-origin for the browser, which then lets it read the answers and
// send any request; but its requests still carry its own name in Host, and
// that is what checkHost refuses (as Caddy's admin origins do).
type adminHosts struct {
	names map[string]bool // lower case; IPs in canonical form
}

// newAdminHosts allows the listener's configured host (unless it is an
// unspecified address such as 0.0.0.0, which no browser should be sent
// to) and the names of admin's origins.
func newAdminHosts(listenHost string, origins []string) adminHosts {
	h := adminHosts{names: map[string]bool{}}
	add := func(n string) {
		n = strings.ToLower(n)
		if ip, err := netip.ParseAddr(n); err == nil {
			if ip.IsUnspecified() {
				return
			}
			n = ip.Unmap().String()
		}
		h.names[n] = true
	}
	if listenHost != "" {
		add(listenHost)
	}
	for _, o := range origins {
		add(o)
	}
	return h
}

// allowed reports whether hostport, a request's Host, names the admin
// listener: a loopback name (localhost, *.localhost, RFC 6761) or IP, the
// IP the connection arrived on (local, from http.LocalAddrContextKey; so
// an ELB health check to the instance's IP passes when admin listens on
// 0.0.0.0), or one of the configured names. The port is not compared. An
// empty Host (HTTP/1.0 without one) is refused: it names nothing.
func (h adminHosts) allowed(hostport string, local net.Addr) bool {
	host := strings.ToLower(hostOnly(hostport))
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err == nil {
		ip = ip.Unmap()
		if ip.IsLoopback() {
			return true
		}
		if ta, ok := local.(*net.TCPAddr); ok {
			if lip, ok := netip.AddrFromSlice(ta.IP); ok && lip.Unmap() == ip.WithZone("") && !ip.IsUnspecified() {
				return true
			}
		}
		host = ip.String()
	}
	return h.names[host]
}

// checkHost refuses, before any other handler (also /healthz, /metrics
// and the page), a request whose Host does not name the admin listener.
func (a *adminServer) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if !a.hosts.allowed(r.Host, local) {
			if e := a.s.log.Debug(); e.Enabled() {
				e.Str("component", "admin").Str("host", r.Host).Str("path", r.URL.Path).Msg("admin request refused: host not allowed")
			}
			writeJSON(w, http.StatusForbidden, map[string]string{
				"error": fmt.Sprintf("host %q is not this admin listener's: use a loopback name or address, or add the name to admin { origins }", r.Host),
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *adminServer) listen() error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return fmt.Errorf("listen for admin: %w", err)
	}
	a.ln = ln
	return nil
}

// adminHeader is the header the status page's buttons and `tether
// set-state` send with state-changing requests. A cross-site form or
// fetch cannot set it without a CORS preflight, which the admin API never
// grants.
const adminHeader = "X-Tether-Admin"

// sameOrigin refuses state-changing requests (anything but GET, HEAD and
// OPTIONS) that could come from another site: they must carry
// X-Tether-Admin, and when the browser says where they come from
// (Sec-Fetch-Site, Origin) it must be this admin listener. A bearer token
// alone does not protect a loopback listener without one, and a browser
// that holds a token would send it with a forged request too.
func sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if reason := crossSite(r); reason != "" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused: " + reason})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossSite returns why r may be a cross-site request, or "".
func crossSite(r *http.Request) string {
	if r.Header.Get(adminHeader) == "" {
		return "missing " + adminHeader + " header"
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site " + r.Header.Get("Sec-Fetch-Site")
	}
	if o := r.Header.Get("Origin"); o != "" { // "null" (sandboxed, file:) is refused too
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return "Origin " + o + " is not " + r.Host
		}
	}
	return ""
}

// auth requires the token on everything but /healthz (which the ELB's
// health check calls without credentials): as a bearer token (the CLI,
// scrapers) or as the password of HTTP Basic auth with any user name, so
// that a browser can open the status page and its buttons' requests carry
// the credentials the browser asked for.
func (a *adminServer) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.token != "" && r.URL.Path != "/healthz" && !a.authorized(r) {
			w.Header().Add("WWW-Authenticate", `Bearer realm="tether"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="tether admin (password: the admin token)", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *adminServer) authorized(r *http.Request) bool {
	got := r.Header.Get("Authorization")
	if _, pass, ok := r.BasicAuth(); ok {
		got = "Bearer " + pass
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+a.token)) == 1
}

func (a *adminServer) healthz(w http.ResponseWriter, r *http.Request) {
	if a.s.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	if !a.s.sessionsReady() {
		// A starting proxy takes no traffic before it holds the session
		// table: it would route failed-over and learned sessions wrongly.
		http.Error(w, "syncing the session table", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Status is the JSON of GET /api/status.
type Status struct {
	Node         NodeStatus       `json:"node"`
	Cluster      *ClusterStatus   `json:"cluster,omitempty"`
	Balancers    []BalancerStatus `json:"balancers"`
	Certificates []CertStatus     `json:"certificates,omitempty"`
	// Sessions is the replicated session table; nil until replication
	// reports through SetSessionStats.
	Sessions *SessionsStatus `json:"sessions,omitempty"`
}

// ClusterStatus is the cluster as this node sees it.
type ClusterStatus struct {
	Name  string `json:"name"`
	Self  string `json:"self"`
	Epoch uint64 `json:"epoch"`
	// Members are the live members, sorted by name.
	Members []ClusterMemberStatus `json:"members"`
	// Gone are the members that left or died in the last 10 minutes, most
	// recently seen first. They are kept apart from Members so that
	// Members still lists only live ones.
	Gone []ClusterMemberStatus `json:"gone,omitempty"`
	// ConfigMismatches are the ways peer proxies' balancers differ from
	// this node's (names, configured members), sorted by peer and balancer;
	// empty when they agree. See clustercheck.go.
	ConfigMismatches []ConfigMismatch `json:"config_mismatches"`
}

// ClusterMemberStatus is one cluster member. A gone member keeps the
// address and metadata it had when last seen, with Healthy false.
type ClusterMemberStatus struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Role    string `json:"role"`
	Service string `json:"service,omitempty"`
	Route   string `json:"route,omitempty"`
	URL     string `json:"url,omitempty"`
	State   string `json:"state"`
	Healthy bool   `json:"healthy"`
	Version string `json:"version,omitempty"`
	// Status is "alive" for a member in this node's membership view and
	// "gone" for one that left it (State is the member's administrative
	// state, as it last advertised it).
	Status string `json:"status"`
	// FirstSeen is when this node saw the member join (or, for members
	// already there, when this node first looked); it restarts when a gone
	// member comes back.
	FirstSeen time.Time `json:"first_seen"`
	// LastSeen is when this node last saw the member alive: now for a live
	// member, and for a gone one when this node found it gone.
	LastSeen time.Time `json:"last_seen"`
}

// NodeStatus describes this Tether process.
type NodeStatus struct {
	Name     string    `json:"name,omitempty"` // the cluster member name; "" without a cluster
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	Draining bool      `json:"draining"`
}

// BalancerStatus is one balancer and its members.
type BalancerStatus struct {
	Name      string         `json:"name"`
	Policy    string         `json:"policy"`
	Sticky    string         `json:"sticky"`
	Force     bool           `json:"sticky_force"`
	Failovers uint64         `json:"failovers"`
	Retries   uint64         `json:"retries"`
	NoMember  uint64         `json:"no_member"`
	Members   []MemberStatus `json:"members"`
	// RecentFailovers are the last failovers and retries, newest first.
	RecentFailovers []FailoverEvent `json:"recent_failovers"`
	// CounterProxies is how many proxies' counters the members' Cluster
	// sums hold (this one included); 0 when none but this one's.
	CounterProxies int `json:"counter_proxies,omitempty"`
	// PinsRefused counts failed-over sessions left without a failover pin
	// because the balancer's pin bucket was empty (see pins.go).
	PinsRefused uint64 `json:"pins_refused"`
}

// MemberStatus is one member's state and counters.
type MemberStatus struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	State    string `json:"state"`
	Healthy  bool   `json:"healthy"`
	Reason   string `json:"reason,omitempty"`
	Weight   int    `json:"weight"`
	Domain   string `json:"domain,omitempty"`
	Redirect string `json:"redirect,omitempty"`
	InFlight int64  `json:"inflight"`
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	Retried  uint64 `json:"retried"`
	Source   string `json:"source"`

	Responses ResponseClasses `json:"responses"`
	Latency   LatencyStatus   `json:"latency"`
	// Sessions is the number of sessions pinned to the member; nil until
	// replication reports through SetSessionStats.
	Sessions *int `json:"sessions"`
	// Cluster sums the counters above over every proxy of the cluster that
	// reported them; absent when no peer did (alone, or no cluster).
	Cluster *ClusterCounters `json:"cluster,omitempty"`
}

// Status reports the server's balancers and members.
func (s *Server) Status() Status {
	st := Status{Node: NodeStatus{Version: s.opts.Version, Started: s.started, Draining: s.draining.Load()}}
	ss := s.sessionStats()
	if ss != nil {
		st.Sessions = &SessionsStatus{Entries: ss.Entries()}
		if lag := ss.Lag(); lag >= 0 {
			ms := float64(lag.Microseconds()) / 1000
			st.Sessions.LagMs = &ms
		}
		if sr, ok := ss.(syncReporter); ok {
			sync := sr.Sync()
			st.Sessions.Sync = &sync
		}
	}
	st.Certificates = s.Certificates()
	if c := s.opts.Cluster; c != nil {
		v := c.View()
		st.Node.Name = v.Self.Name
		cs := &ClusterStatus{Name: v.Self.Meta.Cluster, Self: v.Self.Name, Epoch: v.Epoch}
		for _, sm := range s.clusterSeen().Observe(v, time.Now()) {
			m := sm.Member
			ms := ClusterMemberStatus{
				Name: m.Name, Addr: m.Addr.String(), Role: m.Meta.Role.String(), Service: m.Meta.Service,
				Route: m.Meta.Route, URL: m.Meta.URL, State: m.Meta.State.String(), Healthy: m.Meta.Healthy, Version: m.Meta.Build,
				Status: "alive", FirstSeen: sm.First, LastSeen: sm.Last,
			}
			if sm.Gone {
				ms.Status, ms.Healthy = "gone", false
				cs.Gone = append(cs.Gone, ms)
				continue
			}
			cs.Members = append(cs.Members, ms)
		}
		cs.ConfigMismatches = append([]ConfigMismatch{}, s.mismatches()...)
		st.Cluster = cs
	}
	for _, b := range s.balancerList() {
		bs := BalancerStatus{
			Name: b.name, Policy: b.cfg.LBPolicy, Sticky: b.cfg.Sticky.Mode, Force: b.cfg.Sticky.Force,
			Failovers: b.failovers.Load(), NoMember: b.noMember.Load(), RecentFailovers: b.recent.list(),
			PinsRefused: b.pinsRefused.Load(),
		}
		for _, m := range b.set.Load().members {
			bs.Retries += m.retried.Load()
			var pinned *int
			if ss != nil {
				n := ss.Pinned(b.name, m.name)
				pinned = &n
			}
			bs.Members = append(bs.Members, MemberStatus{
				Name: m.name, URL: m.target.String(), State: routing.State(m.state.Load()).String(),
				Healthy: m.load.Healthy.Load(), Reason: m.healthReason(), Weight: m.weight,
				Domain: m.domain, Redirect: m.redirect, InFlight: m.load.InFlight.Load(),
				Requests: m.requests.Load(), Errors: m.errors.Load(), Retried: m.retried.Load(), Source: m.source,
				Responses: m.responseClasses(), Latency: m.latencyStatus(), Sessions: pinned,
			})
		}
		st.Balancers = append(st.Balancers, bs)
	}
	addClusterCounters(&st, s.peerCounters())
	return st
}

func (a *adminServer) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.s.Status())
}

func (a *adminServer) setState(w http.ResponseWriter, r *http.Request) {
	var body struct {
		State string `json:"state"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	st, err := parseState(body.State)
	if err != nil || body.State == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("state %q: want active, disabled or stopped", body.State)})
		return
	}
	b := a.s.Balancer(r.PathValue("balancer"))
	if b == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no balancer " + r.PathValue("balancer")})
		return
	}
	if err := b.SetState(r.PathValue("member"), st); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errNotFound) {
			code = http.StatusNotFound
		}
		writeJSON(w, code, map[string]string{"error": err.Error()})
		return
	}
	if tab := a.s.opts.Sessions; tab != nil {
		// Replicated to every proxy and persisted, so it holds cluster-wide
		// and across restarts.
		if _, err := tab.SetMemberState(b.name, r.PathValue("member"), body.State, time.Now()); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "applied here, not replicated: " + err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"balancer": b.name, "member": r.PathValue("member"), "state": body.State})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

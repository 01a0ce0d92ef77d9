package proxy

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/tether-proxy/tether/routing"
)

// adminServer is the admin listener: /healthz for the load balancer in
// front, the JSON status, and member state changes.
type adminServer struct {
	s     *Server
	addr  string
	token string
	ln    net.Listener
	srv   *http.Server
}

func newAdminServer(s *Server, addr, token string) (*adminServer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	if token == "" && !isLoopbackHost(host) {
		return nil, fmt.Errorf("admin listener %s is not on loopback: set admin_token (or bind it to 127.0.0.1)", addr)
	}
	a := &adminServer{s: s, addr: addr, token: token}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /api/status", a.status)
	mux.HandleFunc("PUT /api/balancers/{balancer}/members/{member}/state", a.setState)
	mux.HandleFunc("POST /api/reload", a.reload)
	a.srv = &http.Server{
		Handler:           a.auth(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          newStdLogger(s.log, "admin"),
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

func (a *adminServer) listen() error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return fmt.Errorf("listen for admin: %w", err)
	}
	a.ln = ln
	return nil
}

// auth requires the bearer token on everything but /healthz (which the
// ELB's health check calls without credentials).
func (a *adminServer) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.token != "" && r.URL.Path != "/healthz" {
			want := "Bearer " + a.token
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tether"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (a *adminServer) healthz(w http.ResponseWriter, r *http.Request) {
	if a.s.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Status is the JSON of GET /api/status.
type Status struct {
	Node      NodeStatus       `json:"node"`
	Cluster   *ClusterStatus   `json:"cluster,omitempty"`
	Balancers []BalancerStatus `json:"balancers"`
}

// ClusterStatus is the cluster as this node sees it.
type ClusterStatus struct {
	Name    string                `json:"name"`
	Self    string                `json:"self"`
	Epoch   uint64                `json:"epoch"`
	Members []ClusterMemberStatus `json:"members"`
}

// ClusterMemberStatus is one live cluster member.
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
}

// NodeStatus describes this Tether process.
type NodeStatus struct {
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
	NoMember  uint64         `json:"no_member"`
	Members   []MemberStatus `json:"members"`
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
}

// Status reports the server's balancers and members.
func (s *Server) Status() Status {
	st := Status{Node: NodeStatus{Version: s.opts.Version, Started: s.started, Draining: s.draining.Load()}}
	if c := s.opts.Cluster; c != nil {
		v := c.View()
		cs := &ClusterStatus{Name: v.Self.Meta.Cluster, Self: v.Self.Name, Epoch: v.Epoch}
		for _, m := range v.Members {
			cs.Members = append(cs.Members, ClusterMemberStatus{
				Name: m.Name, Addr: m.Addr.String(), Role: m.Meta.Role.String(), Service: m.Meta.Service,
				Route: m.Meta.Route, URL: m.Meta.URL, State: m.Meta.State.String(), Healthy: m.Meta.Healthy, Version: m.Meta.Build,
			})
		}
		st.Cluster = cs
	}
	for _, b := range s.balancerList() {
		bs := BalancerStatus{
			Name: b.name, Policy: b.cfg.LBPolicy, Sticky: b.cfg.Sticky.Mode, Force: b.cfg.Sticky.Force,
			Failovers: b.failovers.Load(), NoMember: b.noMember.Load(),
		}
		for _, m := range b.set.Load().members {
			bs.Members = append(bs.Members, MemberStatus{
				Name: m.name, URL: m.target.String(), State: routing.State(m.state.Load()).String(),
				Healthy: m.load.Healthy.Load(), Reason: m.healthReason(), Weight: m.weight,
				Domain: m.domain, Redirect: m.redirect, InFlight: m.load.InFlight.Load(),
				Requests: m.requests.Load(), Errors: m.errors.Load(), Retried: m.retried.Load(), Source: m.source,
			})
		}
		st.Balancers = append(st.Balancers, bs)
	}
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
	writeJSON(w, http.StatusOK, map[string]string{"balancer": b.name, "member": r.PathValue("member"), "state": body.State})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

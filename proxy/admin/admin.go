package admin

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
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/proxy"
	"github.com/tether-proxy/tether/routing"
)

// api is what the admin listener serves: /healthz for the load balancer
// in front, the status page, /metrics, the JSON status, member state
// changes and reloads. Everything it shows comes from one read of the
// server's state, proxy.Server.Status.
type api struct {
	s     *proxy.Server
	log   zerolog.Logger
	token string
	hosts adminHosts // the Host names requests may use
	now   func() time.Time
}

// New is the admin API of s for the global options g (its address, token
// and origins): the handler proxy.Options.Admin asks for. A listener off
// loopback without a token is refused.
func New(s *proxy.Server, g *config.Global) (http.Handler, error) {
	return newAPI(s, g, zerolog.Nop())
}

// NewLogged is New with a logger for the requests it refuses.
func NewLogged(log zerolog.Logger) func(*proxy.Server, *config.Global) (http.Handler, error) {
	return func(s *proxy.Server, g *config.Global) (http.Handler, error) { return newAPI(s, g, log) }
}

func newAPI(s *proxy.Server, g *config.Global, log zerolog.Logger) (http.Handler, error) {
	host, _, err := net.SplitHostPort(g.Admin)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", g.Admin, err)
	}
	if g.AdminToken == "" && !isLoopbackHost(host) {
		return nil, fmt.Errorf("admin listener %s is not on loopback: set admin_token (or bind it to 127.0.0.1)", g.Admin)
	}
	a := &api{s: s, log: log.With().Str("component", "admin").Logger(), token: g.AdminToken, hosts: newAdminHosts(host, g.AdminOrigins), now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.page)
	mux.Handle("GET /metrics", newMetrics(s))
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /api/status", a.status)
	mux.HandleFunc("PUT /api/balancers/{balancer}/members/{member}/state", a.setState)
	mux.HandleFunc("POST /api/reload", a.reload)
	mux.HandleFunc("GET /api/sessions", a.sessions)
	mux.HandleFunc("DELETE /api/sessions", a.sessions)
	mux.HandleFunc("PUT /api/sessions", a.sessions)
	return a.checkHost(a.auth(sameOrigin(mux))), nil
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
func (a *api) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if !a.hosts.allowed(r.Host, local) {
			if e := a.log.Debug(); e.Enabled() {
				e.Str("host", r.Host).Str("path", r.URL.Path).Msg("admin request refused: host not allowed")
			}
			writeJSON(w, http.StatusForbidden, map[string]string{
				"error": fmt.Sprintf("host %q is not this admin listener's: use a loopback name or address, or add the name to admin { origins }", r.Host),
			})
			return
		}
		next.ServeHTTP(w, r)
	})
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
func (a *api) auth(next http.Handler) http.Handler {
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

func (a *api) authorized(r *http.Request) bool {
	got := r.Header.Get("Authorization")
	if _, pass, ok := r.BasicAuth(); ok {
		got = "Bearer " + pass
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+a.token)) == 1
}

func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	if err := a.s.Healthy(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func (a *api) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.s.Status())
}

func (a *api) setState(w http.ResponseWriter, r *http.Request) {
	var body struct {
		State string `json:"state"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	st, ok := routing.ParseState(body.State)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("state %q: want active, disabled or stopped", body.State)})
		return
	}
	balancer, member := r.PathValue("balancer"), r.PathValue("member")
	if err := a.s.SetMemberState(balancer, member, st); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, proxy.ErrNotFound) {
			code = http.StatusNotFound
		}
		writeJSON(w, code, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"balancer": balancer, "member": member, "state": body.State})
}

// reload answers POST /api/reload: the config file is read again and
// applied, or the answer names what is wrong (file:line:col) and the
// running config stays.
func (a *api) reload(w http.ResponseWriter, r *http.Request) {
	if err := a.s.ReloadFile(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
}

// sessions answers GET, DELETE and PUT /api/sessions?balancer=B&id=ID:
// where the session goes and why, its entry removed (cluster-wide), or its
// pin moved to a member (body {"member":"tomcat2"}).
func (a *api) sessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bal, id := q.Get("balancer"), q.Get("id")
	if bal == "" || id == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want ?balancer=NAME&id=SESSION_ID"})
		return
	}
	var info proxy.SessionInfo
	var err error
	now := a.now()
	switch r.Method {
	case http.MethodGet:
		info, err = a.s.Session(bal, id, now)
	case http.MethodDelete:
		info, err = a.s.DeleteSession(bal, id, now)
	case http.MethodPut:
		var body struct {
			Member string `json:"member"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil || body.Member == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body: want {"member":"NAME"}`})
			return
		}
		info, err = a.s.MoveSession(bal, id, body.Member, now)
	}
	switch {
	case errors.Is(err, proxy.ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, proxy.ErrNoSessionTable), errors.Is(err, proxy.ErrSessionsUnsupported):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, info)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// hostOnly is the host of a Host header value, without port or brackets.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

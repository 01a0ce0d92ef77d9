package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/proxy/certs/s3store"
)

// kind is how a site's certificates are obtained.
type certKind int

const (
	kindACME     certKind = iota // certmagic's ACME issuer (auto)
	kindInternal                 // Tether's own CA (tls internal)
	kindFiles                    // tls CERT KEY, managed by the operator
)

func (k certKind) String() string {
	switch k {
	case kindACME:
		return "acme"
	case kindInternal:
		return "internal"
	case kindFiles:
		return "files"
	}
	return "certKind(" + strconv.Itoa(int(k)) + ")"
}

// Policy is how one https site address gets its certificate. Policies
// are decided by Manager.PolicyFor (pure); Manager.Setup builds their
// certmagic configs.
type Policy struct {
	kind     certKind
	ask      string // on-demand approval URL; "" when names are managed up front
	certFile string // kindFiles
	keyFile  string
	site     *config.Site
	// challenges limits the ACME challenge types; nil allows all.
	challenges []string

	// Set by setup, read by handshakes after Listen.
	cfg  *certmagic.Config // kindACME, kindInternal
	cert *tls.Certificate  // kindFiles

	// conn is the site's handshake settings and the listener's config
	// for them; a reload replaces it (Listener.Update).
	conn atomic.Pointer[policyConn]
}

// settings are p's handshake settings (DefaultConn until PolicyFor sets
// them).
func (p *Policy) settings() *Conn {
	if pc := p.conn.Load(); pc != nil {
		return pc.c
	}
	return DefaultConn
}

// policyConn is a policy's handshake settings and, unless they are the
// defaults, the config its handshakes use.
type policyConn struct {
	c   *Conn
	cfg *tls.Config // nil: the listener's base config
}

// Listener is one TLS listener's certificate choice (NewListener): it
// picks a policy by the client hello's server name on one
// listener: an exact name, then a wildcard, then the site without a name.
// A name that matches nothing gets no certificate (and costs no order).
type Listener struct {
	m        *Manager
	exact    map[string]*Policy
	wildcard []wildcardPolicy
	// wildByDomain maps a wildcard name's domain (".example.com") to the
	// first policy added for it, so that a handshake finds it with one map
	// lookup whatever the number of names; wildcard keeps the order.
	wildByDomain map[string]*Policy
	// ipHost is the first IP address among the exact names: the site of a
	// hello without a server name.
	ipHost string
	any    *Policy

	// mu serializes Config and Update (a reload); handshakes read the
	// policies' conn pointers without it.
	mu   sync.Mutex
	base *tls.Config // built by Config
}

type wildcardPolicy struct {
	suffix string // ".example.com"
	p      *Policy
}

// Add serves host (exact, "*.suffix", or "" for any name) by policy p.
func (lt *Listener) Add(host string, p *Policy) {
	switch {
	case host == "":
		lt.any = p
	case strings.HasPrefix(host, "*."):
		lt.wildcard = append(lt.wildcard, wildcardPolicy{suffix: host[1:], p: p})
		if lt.wildByDomain == nil {
			lt.wildByDomain = map[string]*Policy{}
		}
		if _, ok := lt.wildByDomain[host[1:]]; !ok {
			lt.wildByDomain[host[1:]] = p
		}
	default:
		if lt.exact == nil {
			lt.exact = map[string]*Policy{}
		}
		lt.exact[host] = p
		if lt.ipHost == "" && isIPLiteral(host) {
			lt.ipHost = host
		}
	}
}

func (lt *Listener) lookup(name string) *Policy {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if p, ok := lt.exact[name]; ok {
		return p
	}
	// "*.example.com" matches one label before ".example.com": the name
	// from its first dot.
	if i := strings.IndexByte(name, '.'); i >= 0 {
		if p, ok := lt.wildByDomain[name[i:]]; ok {
			return p
		}
	}
	if name == "" && lt.ipHost != "" {
		// No SNI (an IP literal in the URL): the site of the IP the client
		// dialed, else the unnamed site.
		return lt.exact[lt.ipHost]
	}
	return lt.any
}

// errNoCertificate fails a handshake for a name no site serves.
var errNoCertificate = errors.New("no site is configured for this server name")

func (lt *Listener) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	// An ACME TLS-ALPN-01 validation: answered from memory or, when another
	// instance began the challenge, from the shared storage.
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmez.ACMETLS1Protocol {
		if lt.m.acmeCfg == nil {
			return nil, errNoCertificate
		}
		return lt.m.acmeCfg.GetCertificate(hello)
	}
	if hello.ServerName == "" && lt.m.g.DefaultSNI != "" {
		// Caddy's default_sni: a client that sends no name (an old one,
		// or one dialing an IP) gets the certificate of this name.
		h := *hello
		h.ServerName = lt.m.g.DefaultSNI
		hello = &h
	}
	p := lt.lookup(hello.ServerName)
	if p == nil {
		lt.m.log.Debug().Str("server_name", hello.ServerName).Msg("tls handshake for an unknown name refused")
		return nil, errNoCertificate
	}
	if p.kind == kindFiles {
		return p.cert, nil
	}
	return p.cfg.GetCertificate(hello)
}

// Config is the listener's TLS setup: DefaultConn's (TLS 1.2 and up,
// ECDHE with AEAD ciphers only; 1.3's suites are all AEAD), h2 then
// HTTP/1.1 by ALPN, and acme-tls/1 for TLS-ALPN-01 validations. A site
// with handshake settings of its own (protocols, ciphers, curves,
// client_auth) gets a config of its own, chosen by the server name of the
// client hello as its certificate is: a name no site serves gets the
// unnamed site's, as for certificates.
func (lt *Listener) Config() *tls.Config {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.base == nil {
		lt.base = &tls.Config{
			NextProtos:         []string{"h2", "http/1.1", acmez.ACMETLS1Protocol},
			GetCertificate:     lt.getCertificate,
			GetConfigForClient: lt.configForClient,
		}
		DefaultConn.apply(lt.base)
		for _, p := range lt.policies() {
			p.conn.Store(lt.compile(p.settings()))
		}
	}
	return lt.base
}

// compile is the config of handshakes with settings c on this listener,
// once Config has made the base.
func (lt *Listener) compile(c *Conn) *policyConn {
	pc := &policyConn{c: c}
	if c != DefaultConn && lt.base != nil {
		cfg := lt.base.Clone()
		cfg.GetConfigForClient = nil
		c.apply(cfg)
		pc.cfg = cfg
	}
	return pc
}

// HandshakeRecorder is a connection that wants to know the settings its
// TLS handshake was made with: the proxy wraps each accepted connection
// in one before the handshake, and checks each request against them.
type HandshakeRecorder interface {
	RecordHandshake(*Conn)
}

// configForClient picks the handshake settings of the policy the hello's
// server name selects, and tells the connection. An ACME TLS-ALPN-01
// validation gets the base config: the CA has no client certificate.
func (lt *Listener) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	c, cfg := DefaultConn, (*tls.Config)(nil)
	isACME := len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmez.ACMETLS1Protocol
	if p := lt.lookup(hello.ServerName); p != nil && !isACME {
		if pc := p.conn.Load(); pc != nil {
			c, cfg = pc.c, pc.cfg
		}
	}
	if r, ok := hello.Conn.(HandshakeRecorder); ok {
		r.RecordHandshake(c)
	}
	return cfg, nil
}

// policies lists the listener's policies once each.
func (lt *Listener) policies() []*Policy {
	var out []*Policy
	seen := map[*Policy]bool{}
	add := func(p *Policy) {
		if p != nil && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range lt.exact {
		add(p)
	}
	for _, w := range lt.wildcard {
		add(w.p)
	}
	add(lt.any)
	return out
}

// Update gives lt's policies the handshake settings of from's policies
// for the same names: a reload's new config (from) keeps the running
// listener (lt) and its certificates, and takes the new settings for the
// handshakes that follow. Both serve the same names (the reload checks).
func (lt *Listener) Update(from *Listener) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	set := func(p, np *Policy) {
		if p != nil && np != nil {
			p.conn.Store(lt.compile(np.settings()))
		}
	}
	for host, np := range from.exact {
		set(lt.exact[host], np)
	}
	byDomain := map[string][]*Policy{}
	for _, w := range lt.wildcard {
		byDomain[w.suffix] = append(byDomain[w.suffix], w.p)
	}
	for _, nw := range from.wildcard {
		for _, p := range byDomain[nw.suffix] {
			set(p, nw.p)
		}
	}
	set(lt.any, from.any)
}

// Manager owns the certificates of one proxy configuration: the storage, certmagic's
// cache, one config per issuer (and one per on-demand site), the internal
// CA, and the ACME issuer whose HTTP-01 handler fronts every plain-HTTP
// listener so that any instance answers any instance's challenge.
type Manager struct {
	g       *config.Global
	dataDir string
	log     zerolog.Logger

	policies []*Policy

	// Built by setup.
	storage     certmagic.Storage
	storageDir  string // file storage only
	cache       *certmagic.Cache
	internal    *internalCA
	internalCfg *certmagic.Config
	acmeCfg     *certmagic.Config
	acmeIssuer  *certmagic.ACMEIssuer
	limiter     *onDemandLimiter
	managed     map[*certmagic.Config][]string
}

// NewManager is the certificate manager of the global options g. dataDir
// is the storage directory when g names none (`storage file` without DIR).
func NewManager(g *config.Global, dataDir string, log zerolog.Logger) *Manager {
	return &Manager{g: g, dataDir: dataDir, log: log.With().Str("component", "tls").Logger()}
}

// NewListener is a listener's certificate choice among m's policies.
func (m *Manager) NewListener() *Listener { return &Listener{m: m} }

// PolicyFor decides how the https address host of site sc gets
// certificates.
func (m *Manager) PolicyFor(sc *config.Site, host string) (*Policy, error) {
	p := &Policy{site: sc}
	c, err := NewConn(sc.TLS)
	if err != nil {
		return nil, err
	}
	p.conn.Store(&policyConn{c: c})
	t := sc.TLS
	switch {
	case t == nil:
		p.kind = kindACME
		if host == "" || isIPLiteral(host) || !certmagic.SubjectQualifiesForPublicCert(host) {
			p.kind = kindInternal
		}
	case t.Mode == "internal":
		p.kind = kindInternal
	case t.Mode == "files":
		p.kind, p.certFile, p.keyFile = kindFiles, t.CertFile, t.KeyFile
	case t.Mode == "auto":
		p.kind = kindACME
		if t.OnDemandAsk == "" && (host == "" || isIPLiteral(host) || !certmagic.SubjectQualifiesForPublicCert(host)) {
			p.kind = kindInternal // no public CA issues for localhost or private names
		}
	default:
		return nil, fmt.Errorf("tls %s on an https address", t.Mode)
	}
	if t != nil {
		p.ask = t.OnDemandAsk
		p.challenges = t.Challenges
	}
	if p.kind == kindACME && p.ask == "" && strings.Contains(host, "*") && m.dnsFor(p) == nil {
		return nil, errors.New("a wildcard site needs DNS-01 (tls { dns route53 } or acme_dns), on_demand or tls internal")
	}
	m.policies = append(m.policies, p)
	return p, nil
}

// Setup builds storage, cache and configs, loads certificate files, and
// gets the internal certificates (fast, local); names lists the names each
// policy manages up front. ACME names are obtained by Start, once the
// listeners serve and can answer challenges.
func (m *Manager) Setup(ctx context.Context, names map[*Policy][]string) error {
	st, dir, err := m.newStorage(ctx)
	if err != nil {
		return err
	}
	m.storage, m.storageDir = st, dir
	zl := newZapLogger(m.log)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: m.configForCert,
		Logger:           zl,
	})
	m.internal = &internalCA{storage: st}
	m.limiter = newOnDemandLimiter(onDemandBurst, onDemandEvery)
	m.managed = map[*certmagic.Config][]string{}

	base := certmagic.Config{
		Storage:   st,
		KeySource: certmagic.StandardKeyGenerator{KeyType: certmagic.P256},
		Logger:    zl,
	}
	newCfg := func(p *Policy) (*certmagic.Config, error) {
		c := base
		if p != nil && p.ask != "" {
			c.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: m.decide(p)}
		}
		cfg := certmagic.New(m.cache, c)
		if p != nil && p.kind == kindInternal {
			cfg.Issuers = []certmagic.Issuer{m.internal}
			return cfg, nil
		}
		iss, err := m.newACMEIssuer(ctx, cfg, p)
		if err != nil {
			return nil, err
		}
		cfg.Issuers = []certmagic.Issuer{iss}
		return cfg, nil
	}
	// The shared ACME config answers HTTP-01 and TLS-ALPN-01 challenges
	// for names this instance may not even serve (distributed solving).
	if m.acmeCfg, err = newCfg(nil); err != nil {
		return err
	}
	m.acmeIssuer = m.acmeCfg.Issuers[0].(*certmagic.ACMEIssuer)
	m.internalCfg = certmagic.New(m.cache, base)
	m.internalCfg.Issuers = []certmagic.Issuer{m.internal}

	for _, p := range m.policies {
		switch {
		case p.kind == kindFiles:
			c, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
			if err != nil {
				return fmt.Errorf("%s: tls %s %s: %w", p.site.TLS.Pos, p.certFile, p.keyFile, err)
			}
			p.cert = &c
		case p.ask != "":
			if p.cfg, err = newCfg(p); err != nil {
				return err
			}
		case p.kind == kindInternal:
			p.cfg = m.internalCfg
		case len(p.challenges) > 0, p.site.TLS != nil && p.site.TLS.Email != "", ownACME(p.site.TLS):
			if p.cfg, err = newCfg(p); err != nil {
				return err
			}
		default:
			p.cfg = m.acmeCfg
		}
		if p.cfg != nil && p.ask == "" {
			for _, n := range names[p] {
				m.managed[p.cfg] = appendUnique(m.managed[p.cfg], n)
			}
		}
	}
	if names := m.managed[m.internalCfg]; len(names) > 0 {
		// An unnamed site (https://:8443) answers with the localhost
		// certificate whatever name the client sent.
		m.internalCfg.DefaultServerName = names[0]
		m.internalCfg.FallbackServerName = names[0]
		if err := m.internalCfg.ManageSync(ctx, names); err != nil {
			return fmt.Errorf("internal certificates for %s: %w", strings.Join(names, ", "), err)
		}
	}
	return nil
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// Start obtains and renews the ACME names in the background until ctx ends.
func (m *Manager) Start(ctx context.Context) {
	for cfg, names := range m.managed {
		if cfg == m.internalCfg || len(names) == 0 {
			continue
		}
		if err := cfg.ManageAsync(ctx, names); err != nil {
			m.log.Error().Err(err).Strs("names", names).Msg("certificate management not started")
		}
	}
}

// Stop ends certificate maintenance.
func (m *Manager) Stop() {
	if m.cache != nil {
		m.cache.Stop()
	}
}

// configForCert tells certmagic's maintenance which config renews a cached
// certificate: the one whose site serves its first name.
func (m *Manager) configForCert(c certmagic.Certificate) (*certmagic.Config, error) {
	for cfg, names := range m.managed {
		for _, n := range names {
			for _, cn := range c.Names {
				if n == cn {
					return cfg, nil
				}
			}
		}
	}
	for _, p := range m.policies {
		if p.ask != "" && p.cfg != nil {
			return p.cfg, nil
		}
	}
	return m.acmeCfg, nil
}

// newACMEIssuer is the ACME issuer of cfg. Challenges are solved on the
// configured ports, which Tether's own listeners hold: certmagic then finds
// them in use and relies on the listeners' handlers, as intended.
func (m *Manager) newACMEIssuer(ctx context.Context, cfg *certmagic.Config, p *Policy) (*certmagic.ACMEIssuer, error) {
	tmpl := certmagic.ACMEIssuer{
		CA:             m.g.ACMECA,
		Email:          m.g.Email,
		Agreed:         true,
		AltHTTPPort:    m.g.HTTPPort,
		AltTLSALPNPort: m.g.HTTPSPort,
		Logger:         cfg.Logger,
	}
	if tmpl.CA == "" {
		tmpl.CA = certmagic.LetsEncryptProductionCA
	} else {
		tmpl.TestCA = tmpl.CA // never fall back to Let's Encrypt staging
	}
	if m.g.ACMECARoot != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pemBytes, err := os.ReadFile(m.g.ACMECARoot)
		if err != nil {
			return nil, fmt.Errorf("acme_ca_root: %w", err)
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("acme_ca_root: %s has no PEM certificate", m.g.ACMECARoot)
		}
		tmpl.TrustedRoots = pool
	}
	if p != nil && p.site.TLS != nil && p.site.TLS.Email != "" {
		tmpl.Email = p.site.TLS.Email
	}
	if p != nil && len(p.challenges) > 0 {
		tmpl.DisableHTTPChallenge = !contains(p.challenges, "http-01")
		tmpl.DisableTLSALPNChallenge = !contains(p.challenges, "tls-alpn-01")
	}
	if err := m.acmeOptions(ctx, &tmpl, p); err != nil {
		return nil, err
	}
	return certmagic.NewACMEIssuer(cfg, tmpl), nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// newStorage opens the configured storage: a directory (default: the data
// dir from Options) or an S3 bucket shared by the fleet.
func (m *Manager) newStorage(ctx context.Context) (certmagic.Storage, string, error) {
	st := m.g.Storage
	switch st.Kind {
	case "s3":
		s, err := s3store.New(ctx, s3store.Config{
			Bucket:   st.Bucket,
			Prefix:   st.Prefix,
			Region:   st.Region,
			Endpoint: st.Endpoint,
			Logger:   m.log,
		})
		if err != nil {
			return nil, "", fmt.Errorf("%s: storage s3: %w", st.Pos, err)
		}
		return s, "", nil
	default:
		dir := st.Dir
		if dir == "" {
			dir = m.dataDir
		}
		if dir == "" {
			return nil, "", errors.New("storage: no directory (set storage file DIR, or $TETHER_DATA)")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", fmt.Errorf("storage: %w", err)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, "", err
		}
		return &certmagic.FileStorage{Path: abs}, abs, nil
	}
}

// InternalRoot returns the internal CA's root certificate (PEM) and, with
// file storage, the file that holds it: what `curl --cacert` needs. It
// creates the root if the storage has none.
func (m *Manager) InternalRoot(ctx context.Context) (pemBytes []byte, path string, err error) {
	if m == nil || m.internal == nil {
		return nil, "", errors.New("no https site uses the internal CA")
	}
	pemBytes, err = m.internal.RootPEM(ctx)
	if err != nil {
		return nil, "", err
	}
	if m.storageDir != "" {
		path = filepath.Join(m.storageDir, filepath.FromSlash(internalRootCertKey))
	}
	return pemBytes, path, nil
}

// On-demand issuance limits: at most onDemandBurst new certificates at
// once, refilled at one per onDemandEvery (10 a minute), across the
// server. They protect the CA account's rate limits from a flood of
// approved names; names whose certificate is already stored are exempt.
const (
	onDemandBurst = 10
	onDemandEvery = 6 * time.Second
	askTimeout    = 5 * time.Second
)

// decide is the on-demand DecisionFunc of policy p: ask the URL, then the
// rate limit. A denial costs no ACME order.
func (m *Manager) decide(p *Policy) func(context.Context, string) error {
	client := &http.Client{Timeout: askTimeout}
	return func(ctx context.Context, name string) error {
		u, err := url.Parse(p.ask)
		if err != nil {
			return err
		}
		q := u.Query()
		q.Set("domain", name)
		u.RawQuery = q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("ask %s: %w", p.ask, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			m.log.Info().Str("name", name).Int("status", resp.StatusCode).Msg("on-demand certificate denied by ask")
			return fmt.Errorf("ask %s: %s is not allowed (status %d)", p.ask, name, resp.StatusCode)
		}
		if m.stored(ctx, p, name) {
			return nil
		}
		if !m.limiter.allow(time.Now()) {
			m.log.Warn().Str("name", name).Msg("on-demand certificate rate limited")
			return fmt.Errorf("on-demand issuance rate limit reached for %s", name)
		}
		return nil
	}
}

// stored reports whether name's certificate is already in storage.
func (m *Manager) stored(ctx context.Context, p *Policy, name string) bool {
	if p.cfg == nil {
		return false
	}
	for _, iss := range p.cfg.Issuers {
		if p.cfg.Storage.Exists(ctx, certmagic.StorageKeys.SiteCert(iss.IssuerKey(), name)) {
			return true
		}
	}
	return false
}

// onDemandLimiter is a token bucket; times come in as arguments.
type onDemandLimiter struct {
	every time.Duration
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newOnDemandLimiter(burst int, every time.Duration) *onDemandLimiter {
	return &onDemandLimiter{every: every, burst: float64(burst), tokens: float64(burst)}
}

func (l *onDemandLimiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.every))
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// HandleHTTPChallenge answers an ACME HTTP-01 challenge request, also one
// another instance began (from the shared storage), and reports whether r
// was one.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	iss := m.acmeIssuer
	return iss != nil && iss.HandleHTTPChallenge(w, r)
}

// isIPLiteral reports whether a site host is an IP address (no public CA
// certifies those; a handshake without SNI picks their site).
func isIPLiteral(h string) bool {
	_, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil
}

// Certificate is one certificate a proxy serves.
type Certificate struct {
	Names    []string  `json:"names"`
	Issuer   string    `json:"issuer"`
	Source   string    `json:"source"` // acme, internal or files
	NotAfter time.Time `json:"not_after"`
}

// Certificates lists the certificates this node holds for its https
// sites, soonest expiry first: files loaded with `tls CERT KEY` and
// whatever the certificate cache (ACME, internal CA) holds for the names
// it manages. Empty without https sites or before Listen.
func (m *Manager) Certificates() []Certificate {
	if m == nil || m.cache == nil {
		return nil
	}
	var out []Certificate
	seen := map[string]bool{}
	addCert := func(c Certificate, key string) {
		if key == "" || seen[key] {
			return
		}
		seen[key] = true
		out = append(out, c)
	}
	for _, p := range m.policies {
		if p.kind == kindFiles && p.cert != nil && p.cert.Leaf != nil {
			l := p.cert.Leaf
			names := l.DNSNames
			if len(names) == 0 && l.Subject.CommonName != "" {
				names = []string{l.Subject.CommonName}
			}
			addCert(Certificate{Names: names, Issuer: l.Issuer.CommonName, Source: "files", NotAfter: l.NotAfter}, string(l.Raw))
		}
	}
	for cfg, names := range m.managed {
		src := "acme"
		if cfg == m.internalCfg {
			src = "internal"
		}
		for _, n := range names {
			for _, c := range m.cache.AllMatchingCertificates(n) {
				if c.Leaf == nil {
					continue
				}
				addCert(Certificate{Names: c.Names, Issuer: c.Leaf.Issuer.CommonName, Source: src, NotAfter: c.Leaf.NotAfter}, c.Hash())
			}
		}
	}
	slices.SortFunc(out, func(a, b Certificate) int { return a.NotAfter.Compare(b.NotAfter) })
	return out
}

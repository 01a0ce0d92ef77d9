package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Pos is a position in a config file. Line and Col start at 1; Col counts
// bytes. The zero Pos means "no position" (a default, or a value that came
// from a flag).
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats p as file:line:col, the form every config error starts with.
func (p Pos) String() string {
	if p.File == "" && p.Line == 0 {
		return "-"
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Config is a whole, validated Tether configuration: the global options block
// and the sites, in file order.
type Config struct {
	Global Global
	Sites  []Site
	// Warnings are what Parse accepted but does not honour exactly: mod_jk
	// attributes import_jk maps approximately or not at all, each at the
	// file and line that set it. The CLI prints them; nil when there are
	// none.
	Warnings []Warning
}

// Warning is a configuration construct that was accepted but is not
// honoured exactly (an unsupported mod_jk attribute, an approximated URI
// pattern). Pos names the file and line that set it.
type Warning struct {
	Pos Pos
	Msg string
}

// String formats w as "file:line:col: warning: message".
func (w Warning) String() string { return w.Pos.String() + ": warning: " + w.Msg }

// Global holds the options of the global block (the first, unnamed block).
// Parse fills in every default below, also when there is no global block.
type Global struct {
	// Admin is the admin listener (JSON API, status page, /metrics, /healthz).
	// Default "127.0.0.1:9180"; "off" disables it (Admin is then "").
	Admin string
	// AdminToken is the bearer token the admin API requires. Required when
	// Admin is not a loopback address.
	AdminToken string
	// AdminOrigins are the host names (or IPs), lower case, besides
	// loopback names, the admin listener's own host and the address a
	// connection arrived on, that a request's Host may name: what a browser
	// or a load balancer uses to reach the admin API (Caddy's admin
	// origins). Any other Host is refused with 403, against DNS rebinding.
	// nil: none.
	AdminOrigins []string
	// AdminProxyProtocol, when not empty, makes the admin listener read a
	// PROXY protocol header from peers in these ranges, which must send
	// one: an AWS NLB target group with proxy protocol v2 sends it with its
	// /healthz checks too (admin { proxy_protocol CIDR... }). Nil: off.
	AdminProxyProtocol []netip.Prefix
	// HTTPPort and HTTPSPort are the ports for sites whose address names
	// none. Defaults 80 and 443.
	HTTPPort  int
	HTTPSPort int
	// Email is the ACME account contact.
	Email string
	// ACMECA is the ACME directory URL. Default: Let's Encrypt production.
	ACMECA string
	// ACMECARoot is a PEM file of extra roots to trust for the ACME CA.
	ACMECARoot string
	// ACMEDNS solves every ACME site's challenges with DNS-01 through a
	// DNS provider unless the site's tls block names its own (Caddy's
	// acme_dns); nil: HTTP-01 and TLS-ALPN-01.
	ACMEDNS *DNSProvider
	// ACMEEAB is the External Account Binding of the ACME account, for
	// CAs that require one (Caddy's acme_eab); nil: none.
	ACMEEAB *EAB
	// Storage is where certificates, the internal CA and locks live.
	// Default: file storage under the user's data directory.
	Storage Storage
	// Cluster is the cluster this proxy joins; nil when it runs alone.
	Cluster *Cluster
	// Agent is the agent block, read by `tether agent -c FILE` only; nil
	// when absent.
	Agent *Agent
	// DrainDelay is how long /healthz answers 503 before listeners close on
	// SIGTERM, so a load balancer stops sending. Default 0.
	DrainDelay time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after listeners close. Default 30s.
	ShutdownTimeout time.Duration
	// Log configures the process log (not access logs).
	Log Log
	// Limits are the client-side limits of every listener and site (the
	// limits block, and the timeouts and max_header_size of a servers
	// block without an address); sites may override the per-request ones.
	Limits Limits
	// AutoHTTPS is Caddy's auto_https: "" (on), "off" (no certificate
	// automation, no HTTP->HTTPS redirects), "disable_redirects",
	// "disable_certs" or "ignore_loaded_certs" (what Tether always does).
	// Without certificate automation every https site must name its
	// certificate (tls CERT KEY, tls internal, on_demand).
	AutoHTTPS string
	// LocalCerts is Caddy's local_certs: sites without a tls directive
	// get tls internal.
	LocalCerts bool
	// OnDemandAsk is Caddy's on_demand_tls { ask URL }: the ask endpoint
	// of sites whose tls { on_demand } names none.
	OnDemandAsk string
	// DefaultSNI is Caddy's default_sni: the server name assumed for a TLS
	// handshake that sends none.
	DefaultSNI string
	// Servers are Caddy's servers blocks: settings of the listeners on an
	// address (Listen), or of every listener (Listen ""), in file order.
	Servers []ServerOptions

	// Pos is the global block's '{'; zero without a global block.
	Pos Pos
}

// Storage selects where shared TLS state lives.
type Storage struct {
	// Kind is "file" (default) or "s3".
	Kind string
	// Dir is the directory for Kind "file"; "" means the default data dir.
	Dir string
	// S3 settings, for Kind "s3" (Bucket is then required).
	Bucket   string
	Prefix   string
	Region   string
	Endpoint string // an S3-compatible endpoint URL; "" for AWS
	Pos      Pos    // the storage directive; zero when absent
}

// Log configures the process logger.
type Log struct {
	// Level is one of debug, info, warn, error. Default info.
	Level string
	// Format is "json", "console" or "" (console on a terminal, else JSON).
	Format string
	// Output is "stderr" (""), "stdout", "discard" or a file path (opened
	// for appending), Caddy's log { output ... }.
	Output string
}

// ServerOptions are Caddy's servers [ADDR] { ... } global options: the
// settings of HTTP listeners, mapped onto Tether's.
type ServerOptions struct {
	// Listen is the listener address the block applies to: ":PORT" (any
	// listener on that port) or "HOST:PORT"; "" for every listener that
	// no other block names.
	Listen string
	// Limits are the global limits with the block's timeouts (read_header
	// is header_timeout, read_body body_timeout, write write_timeout,
	// idle idle_timeout) and max_header_size.
	Limits Limits
	// Protocols are what the listeners serve: h1, h2 (TLS listeners), h2c
	// (HTTP/2 without TLS, prior knowledge); nil is h1 and h2.
	Protocols []string
	// TrustedProxies (trusted_proxies static ...) are the default of the
	// sites on these listeners that set none themselves.
	TrustedProxies []netip.Prefix
	// ClientIPHeaders are the headers a trusted proxy's client address is
	// read from, the first non-empty one (client_ip_headers); nil is
	// X-Forwarded-For.
	ClientIPHeaders []string
	// ProxyProtocol is listener_wrappers { proxy_protocol { allow ... } }:
	// the sites' proxy_protocol unless they set one.
	ProxyProtocol []netip.Prefix
	Pos           Pos
}

// Cluster configures membership.
type Cluster struct {
	Name      string
	Bind      string   // host:port for gossip; default 0.0.0.0:7946
	Advertise string   // host:port, "auto" for EC2 metadata, "" for the bind address
	GossipKey []string // base64 keys of 16, 24 or 32 bytes; the first is used to send
	Profile   string   // lan (default), wan, local
	Discover  []Discover
	// SessionTTL is how long a replicated session entry lives after its last
	// use. Default 30m.
	SessionTTL time.Duration
	// Store, when set, writes replicated session entries through to a
	// shared store and reads it on a local miss (sticky learn), so proxy
	// clusters that share only the store agree on sessions.
	Store *SessionStore
	Pos   Pos
}

// SessionStore is a cluster's "store dynamodb { ... }".
type SessionStore struct {
	Kind     string // "dynamodb"
	Table    string // required
	Region   string // "" for the SDK's default chain
	Endpoint string // a DynamoDB-compatible endpoint URL (moto_server); "" for AWS
	Pos      Pos
}

// Discover is one discovery provider of a cluster block.
type Discover struct {
	// Kind is static, dns, ec2 or s3.
	Kind string
	// Addrs are host:port seeds for static, names for dns.
	Addrs []string
	// Options holds the provider's sub-directives (tag, port, bucket, ...),
	// each with its arguments (a repeated key appends); nil when there are
	// none. Providers validate their own keys; Parse only requires bucket
	// for s3.
	Options map[string][]string
	Pos     Pos
}

// Site is one site block: one or more addresses and what serves them.
type Site struct {
	Addresses []Address
	// TrustedProxies are the peers whose X-Forwarded-* headers are believed.
	// Prefixes are masked; a bare IP becomes a /32 or /128.
	TrustedProxies []netip.Prefix
	// ClientIPHeaders are the headers a trusted proxy's client address is
	// read from (a servers block's client_ip_headers); nil is
	// X-Forwarded-For.
	ClientIPHeaders []string
	// ProxyProtocol, when not empty, makes the site's listeners read a
	// PROXY protocol header (v1 or v2, as an AWS NLB sends) from peers in
	// these ranges, which must send one; a header from any other peer is
	// refused. Sites sharing a listener must agree. Nil: off.
	ProxyProtocol []netip.Prefix
	// TLS is nil when the site uses the defaults (automatic HTTPS for real
	// domain names, internal for localhost and IPs, none for http:// sites).
	TLS *TLS
	// Balancers are the reverse_proxy blocks, in file order.
	Balancers []*Balancer
	// FileServer serves paths no balancer mounts; nil when absent.
	FileServer *FileServer
	// AccessLog is nil when access logging is off for the site.
	AccessLog *AccessLog
	// Limits are the site's client-side limits when it has a limits block:
	// the global ones with the site's overrides. Nil: the global limits.
	Limits *Limits
	// AllowMethods are the methods refused by default (TRACE, CONNECT)
	// that this site passes on; nil refuses them with 405.
	AllowMethods []string
	// Encode compresses the site's answers; nil: no compression.
	Encode *Encode
	// Headers are the header directives, in file order.
	Headers []*Header
	// Redirects and Responds are the redir and respond directives, in
	// file order; they answer before any balancer (Caddy's order: redir,
	// then respond, then reverse_proxy and file_server).
	Redirects []*Redirect
	Responds  []*Respond
	// BasicAuths are the basic_auth directives, checked after redir and
	// before respond and the balancers.
	BasicAuths []*BasicAuth
	// Routes are the site's request pipeline: every directive that
	// handles requests (header, redir, rewrite, basic_auth, encode,
	// handle, respond, reverse_proxy, import_jk's workers, file_server,
	// ...), in the order they run (Caddy's directive order). The lists
	// above hold the same directives by kind, in file order, wherever
	// they are nested; Balancers is every balancer of the site.
	Routes []*Route
	// ErrorRoutes are the handle_errors blocks: those with statuses first,
	// then those for every error, in file order; the first that handles
	// an error's status answers it.
	ErrorRoutes []*ErrorRoute
	// ImportJK records an import_jk directive, already expanded into
	// Balancers (and FileServer) by LoadJK; kept for status and reload
	// messages.
	ImportJK *ImportJK
	Pos      Pos // the first address
}

// Address is a site address such as "shop.example.com", "http://:8080" or
// "localhost:8443".
type Address struct {
	Scheme string // "http", "https" or "" (https unless the port is the HTTP port)
	Host   string // "" means any host
	Port   int    // 0 means the global default for the scheme, or a free port when Raw ends in ":0"
	Raw    string // as written (one piece of a comma-separated list)
}

// TLS is a site's tls directive.
type TLS struct {
	// Mode is "auto" (ACME; the tls block without arguments), "internal",
	// "files" (tls CERT KEY) or "off".
	Mode     string
	CertFile string
	KeyFile  string
	// OnDemandAsk is the URL asked whether a name may get a certificate
	// on demand; "" disables on-demand issuance. With OnDemand and no ask
	// of its own, the global on_demand_tls ask.
	OnDemandAsk string
	// OnDemand is tls { on_demand }.
	OnDemand bool
	// Challenges limits the ACME challenge types ("http-01",
	// "tls-alpn-01"); empty allows both. Behind a TLS-terminating load
	// balancer only http-01 can reach Tether.
	Challenges []string
	// Email is the ACME account of this site (Caddy's `tls EMAIL`); ""
	// uses the global email.
	Email string
	// DNS solves this site's ACME challenges with DNS-01 through a DNS
	// provider (Caddy's `dns route53`), which also gets wildcard names;
	// nil: the global acme_dns, else HTTP-01 and TLS-ALPN-01.
	DNS *DNSProvider
	// Resolvers are the DNS servers (IP:port) asked for a DNS-01 record's
	// zone and whether the record has propagated (Caddy's resolvers);
	// empty: the system's resolvers, then the zone's name servers.
	Resolvers []string
	// PropagationTimeout bounds the wait for a DNS-01 record to show;
	// -1 skips the check. 0: certmagic's default (2m).
	PropagationTimeout time.Duration
	// PropagationDelay is waited before the first propagation check.
	PropagationDelay time.Duration
	// EAB is this site's ACME External Account Binding (Caddy's `eab`);
	// nil: the global acme_eab.
	EAB *EAB
	// ProtocolMin and ProtocolMax are the lowest and highest TLS versions
	// a handshake may use, "tls1.2" or "tls1.3" (protocols MIN [MAX]);
	// "" takes the default: tls1.2 and tls1.3.
	ProtocolMin, ProtocolMax string
	// Ciphers are the TLS 1.2 cipher suites a handshake may use, by the
	// names Go gives them (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...);
	// empty: ECDHE with AES-GCM or ChaCha20. Go picks among them in its
	// own order, and TLS 1.3's suites are always on.
	Ciphers []string
	// Curves are the key exchange groups a handshake may use (x25519,
	// secp256r1, secp384r1, secp521r1, x25519mlkem768); empty: Go's
	// default.
	Curves []string
	// ClientAuth asks clients for certificates; nil: none is asked for.
	ClientAuth *ClientAuth
	Pos        Pos
}

// ClientAuth is tls { client_auth { ... } }: whether a handshake asks the
// client for a certificate, and what the certificate must be to pass.
type ClientAuth struct {
	// Mode is Caddy's: "request" (ask, verify nothing), "require" (insist,
	// verify nothing), "verify_if_given" (ask; a given certificate must
	// verify) or "require_and_verify". Without a mode line Parse sets
	// require_and_verify when trusted certificates are given, else
	// require, as Caddy does.
	Mode string
	// TrustedCAs are the CA certificates a client's certificate must chain
	// to (trusted_ca_cert[_file], trust_pool file|inline).
	TrustedCAs []Certificate
	// TrustedLeaves, when not empty, are the only client certificates
	// accepted (trusted_leaf_cert[_file]): with TrustedCAs, a certificate
	// must chain to one of them and be one of these; alone, it must be one
	// of these and within its validity dates.
	TrustedLeaves []Certificate
	Pos           Pos
}

// Verifies reports whether the mode checks a given certificate against
// the trusted ones.
func (c *ClientAuth) Verifies() bool {
	return c.Mode == "verify_if_given" || c.Mode == "require_and_verify"
}

// Certificate is a certificate a config names, read from a PEM file or
// written inline as base64 DER.
type Certificate struct {
	DER     []byte
	Subject string // RFC 2253, for messages
	File    string // the PEM file it was read from, as written; "" inline
	Pos     Pos    // the file name's or the base64 value's token
}

// FileServer serves static files from Root.
type FileServer struct {
	Root   string
	Index  []string // default index.html, index.htm
	Browse bool     // directory listings; default off
	Pos    Pos
}

// AccessLog configures a site's access log.
type AccessLog struct {
	// Output is "stdout", "stderr" or a file path. Default stderr.
	Output string
	// Format is "json" (default), "console" or "combined" (Apache's).
	Format string
	Pos    Pos
}

// ImportJK records the files a site imported from mod_jk.
// Paths are as written, or joined to the directory of the Caddyfile that
// names them when relative.
type ImportJK struct {
	Workers    string // "" without a workers file (mod_jk's defaults and Properties only)
	URIWorkers string // "" when not given
	DocRoot    string // doc_root, as written; the file_server root when the site sets none
	// Mounts are httpd's JkMount and JkUnMount lines (import_jk's mount
	// and unmount), in order; mod_jk ranks them after the uriworkermap's
	// rules of the same length and before the workers' mount attributes.
	Mounts []JKMount
	// Properties are httpd's JkWorkerProperty lines (import_jk's
	// worker_property), read before the workers file as mod_jk reads them.
	Properties []JKProperty
	// ApacheChildren is how many httpd child processes serve requests
	// (MaxRequestWorkers ÷ ThreadsPerChild; import_jk's apache_children):
	// mod_jk's connection_pool_size is per child, so a member's max_conns
	// is pool size × children. 0: httpd's defaults (400 ÷ 25 = 16).
	ApacheChildren int
	Pos            Pos
}

// JKMount is one JkMount (or, with Exclude, JkUnMount) of a site.
type JKMount struct {
	Pattern string // starts with /
	Worker  string
	Exclude bool
	Pos     Pos
}

// JKProperty is one "key=value" line given outside the workers file.
type JKProperty struct {
	Line string
	Pos  Pos
}

// Balancer is one reverse_proxy block: a named group of members behind a
// path matcher, with its stickiness, balancing and health settings.
type Balancer struct {
	// Name identifies the balancer in the admin API and across the
	// cluster: the proxies share learned sessions, failover pins and member
	// states by balancer name. Unique in a Config. Default "HOST-N": HOST is
	// the site's first address whose host is a DNS name, lowercased
	// ("default" when the site has none: only IPs or no host), and N counts
	// the reverse_proxy blocks of every site with that HOST, in file order.
	// Scheme, listen IP and port are not part of it, so "http://shop:8080"
	// on one proxy and "shop:443" on another both name theirs "shop-1",
	// and "http://10.0.1.5:80" and "http://10.0.1.6:80" both "default-1".
	// import_jk balancers are named after their workers.
	Name string
	// Source identifies an imported mod_jk worker: its workers.properties
	// and its name ("/etc/jk/workers.properties#lb"); "" for a
	// reverse_proxy block. Balancers of one Source in several sites (one
	// worker mounted by several virtual hosts) are one balancer: they share
	// the name, one state, health, counters and set of connections, each
	// site with its own Paths and Excludes. Any other repeated name is an
	// error.
	Source string
	// Paths are the path patterns that mount this balancer ("/app/*",
	// "/exact", "*.jsp"); empty means every path. Excludes are patterns
	// that do not, checked first (mod_jk's "!/..." and JkUnMount).
	Paths    []string
	Excludes []string

	Members []Member
	// DiscoverService, when set, adds the live backend members that joined
	// the cluster as this service.
	DiscoverService string
	// DiscoverEC2, when set, adds the running EC2 instances it finds, as
	// members, re-read every Refresh.
	DiscoverEC2 *DiscoverEC2

	Sticky Sticky
	// LBPolicy is round_robin, least_requests, least_busy, p2c, random,
	// ip_hash, or Caddy's first, uri_hash, header, query or random_choose
	// (its least_conn, client_ip_hash and weighted_round_robin are
	// least_busy, ip_hash and round_robin with the weights on the
	// members). Default round_robin. It balances requests without a
	// session; sessions keep precedence.
	LBPolicy string
	// LBKey is the header field (header) or query parameter (query)
	// whose value is hashed.
	LBKey string
	// LBFallback balances the requests header and query have no value
	// for: a policy that needs no key. Default random (Caddy's).
	LBFallback string
	// LBChoose is how many members random_choose draws (2 and up).
	LBChoose int
	// FlushInterval is Caddy's flush_interval: how often a member's
	// answer is flushed to the client while it streams; -1 flushes after
	// every write. 0: at once for event streams and answers of unknown
	// length, else when the copy buffer fills.
	FlushInterval time.Duration

	// Passive health: a member with MaxFails consecutive failures (connect
	// errors, timeouts, statuses in FailOnStatus) is out for RecoverTime.
	MaxFails     int           // default 1 (mod_jk marks ERR at the first failed connect)
	RecoverTime  time.Duration // default 30s
	FailOnStatus []int

	// Active health checks; HealthURI "" disables them.
	HealthURI string
	// HealthPort is the port HTTP members' active checks go to (Caddy's
	// health_port; alone it checks /); 0: the member's own.
	HealthPort int
	// HealthStatus are the statuses an active health check accepts, any
	// of them: "200" exactly, or a class ("2xx"); none accepts 2xx and 3xx.
	HealthStatus []string
	// HeaderUp and HeaderDown are Caddy's header_up and header_down: the
	// operations on the request sent to a member (after the forwarded
	// headers; "Host" sets the Host sent) and on the member's answer.
	HeaderUp, HeaderDown []HeaderOp
	// HandleResponse are Caddy's handle_response and replace_status, in
	// file order: the first whose response matcher passes a member's
	// answer takes it (after passive health has counted it).
	HandleResponse []*ResponseHandler
	HealthInterval time.Duration // default 5s
	HealthTimeout  time.Duration // default 2s
	HealthFails    int           // consecutive failures to mark down; default 2
	HealthPasses   int           // consecutive passes to mark up; default 1

	// Retries is how many other members a failed request may try. Default
	// 1; 0 means none.
	Retries int

	// Transport timeouts; zero means the default.
	DialTimeout           time.Duration // default 3s
	ResponseHeaderTimeout time.Duration // default 60s (mod_jk reply_timeout analogue)
	IdleTimeout           time.Duration // idle keep-alive to members; default 90s
	MaxIdleConns          int           // per member; default 256
	// Transport is the transport http block (Caddy's); nil without one.
	Transport *HTTPTransport

	// AJP settings, for ajp:// members.
	AJPSecret     string
	AJPPacketSize int // default 8192; 8192..65536
	// AJPPing turns on the active health check of ajp:// members without a
	// HealthURI: a CPing every HealthInterval, failed when no CPong comes
	// within HealthTimeout (mod_jk ping_mode). Default off.
	AJPPing bool

	// ClientCertHeaders, when "apache", sends HTTP members the client's
	// certificate and TLS connection as Apache's mod_ssl names them
	// (SSL_CLIENT_CERT, SSL_CLIENT_S_DN, SSL_CLIENT_VERIFY, SSL_CIPHER,
	// ...; Tomcat's SSLValve reads them); "" sends none. Headers of those
	// names from clients never reach a member either way.
	ClientCertHeaders string

	// Issue 15: retry budget, try duration, outlier ejection and richer
	// active checks (resilience.go).
	//
	// RetryBudget bounds retries to a share of recent requests; nil: only
	// Retries bounds them.
	RetryBudget *RetryBudget
	// TryDuration is Caddy's lb_try_duration: no attempt starts once a
	// request has been trying this long, and while it has time a request
	// with no usable member left waits TryInterval and tries again. 0: one
	// pass over the members (Retries bounds it). With TryDuration and no
	// retries written, Retries is 100.
	TryDuration time.Duration
	// TryInterval is Caddy's lb_try_interval: the wait before trying again
	// when no member is left to try; default 250ms.
	TryInterval time.Duration
	// Outlier is outlier ejection; nil: off.
	Outlier *Outlier
	// HealthBody is Caddy's health_body: a regular expression an active
	// check's answer body (its first 64 KiB) must match; "" checks none.
	HealthBody string
	// HealthHeaders are Caddy's health_headers: header fields sent with
	// every active check; Host sets the Host sent.
	HealthHeaders []HealthHeader
	// HealthMethod is Caddy's health_method; "" is GET.
	HealthMethod string
	// Protecting the members (config/protect.go). MaxConns caps the
	// requests in flight to each member (HAProxy's maxconn, mod_jk's
	// busy_limit; Caddy's max_requests); a backend's own max_conns
	// overrides it. 0: no limit. When every usable member is at its
	// limit, requests wait in the balancer's queue, first come first
	// served (a session's requests for its own member), up to
	// QueueTimeout (then 503 with Retry-After; default 10s); MaxQueue
	// bounds how many wait (beyond it, 503 at once; default 1000). Both
	// are 0 when no member has a limit.
	MaxConns     int
	MaxQueue     int
	QueueTimeout time.Duration
	// SlowStart ramps a member's share of new sessions from 5% to full
	// over this time after it becomes usable again (recovered, re-enabled,
	// discovered); its own sessions reach it at once. 0: off.
	SlowStart time.Duration

	Pos Pos
}

// Sticky configures session affinity.
type Sticky struct {
	// Mode is "jvmroute" (default), "learn", "cookie" or "off".
	// "sticky learn COOKIE" and "sticky cookie NAME" set Cookie too.
	Mode string
	// Cookie is the session cookie name; default JSESSIONID. For "cookie"
	// mode it is the name of Tether's own affinity cookie.
	Cookie string
	// PathParam is the path parameter carrying the id; default jsessionid.
	PathParam string
	// Force answers 503 instead of failing over (mod_jk sticky_session_force).
	Force bool
	// The affinity cookie's attributes (cookie mode): MaxAge (0: a
	// session cookie, which the browser drops when it closes), Domain (""
	// the site's host only), Secure ("" when the client came over HTTPS,
	// "on" always, "off" never) and SameSite ("lax" by default, "strict"
	// or "none", which browsers accept only with Secure, so it implies
	// it). Path is always / and HttpOnly always set.
	MaxAge   time.Duration
	Domain   string
	Secure   string
	SameSite string
	// Secret, when set, signs this balancer's affinity cookies instead of
	// the cluster's key (Caddy's lb_policy cookie NAME SECRET): proxies
	// that share only the config accept each other's cookies.
	Secret string
}

// Member is one backend of a balancer.
type Member struct {
	// Name is the member's route (jvmRoute) and its name in the admin API.
	Name string
	// URL is http://host:port, https://host:port, h2c://host:port
	// (cleartext HTTP/2, Caddy's) or ajp://host:port, the port always
	// explicit (Parse adds the scheme's default).
	URL      string
	Weight   int    // mod_jk lbfactor; default 1 (also for 0 from an import_jk loader)
	Domain   string // replication group
	Redirect string // preferred failover member
	// State is active (default), disabled or stopped.
	State string
	// MaxConns caps the requests in flight to this member (a backend
	// block's max_conns, mod_jk's busy_limit); 0: the balancer's.
	MaxConns int
	Pos      Pos // the member's name or URL token
}

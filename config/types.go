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
	// Storage is where certificates, the internal CA and locks live.
	// Default: file storage under the user's data directory.
	Storage Storage
	// Cluster is the cluster this proxy joins; nil when it runs alone.
	Cluster *Cluster
	// DrainDelay is how long /healthz answers 503 before listeners close on
	// SIGTERM, so a load balancer stops sending. Default 0.
	DrainDelay time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after listeners close. Default 30s.
	ShutdownTimeout time.Duration
	// Log configures the process log (not access logs).
	Log Log
	// Limits are the client-side limits of every listener and site (the
	// limits block); sites may override the per-request ones.
	Limits Limits

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
	// on demand; "" disables on-demand issuance.
	OnDemandAsk string
	// Challenges limits the ACME challenge types ("http-01",
	// "tls-alpn-01"); empty allows both. Behind a TLS-terminating load
	// balancer only http-01 can reach Tether.
	Challenges []string
	// Email is the ACME account of this site (Caddy's `tls EMAIL`); ""
	// uses the global email.
	Email string
	Pos   Pos
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
	Pos        Pos
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

	Sticky Sticky
	// LBPolicy is round_robin, least_requests, least_busy, p2c, random or
	// ip_hash. Default round_robin.
	LBPolicy string

	// Passive health: a member with MaxFails consecutive failures (connect
	// errors, timeouts, statuses in FailOnStatus) is out for RecoverTime.
	MaxFails     int           // default 1 (mod_jk marks ERR at the first failed connect)
	RecoverTime  time.Duration // default 30s
	FailOnStatus []int

	// Active health checks; HealthURI "" disables them.
	HealthURI string
	// HealthStatus is the status an active health check expects: "200"
	// exactly, or a class ("2xx"); "" accepts 2xx and 3xx.
	HealthStatus string
	// HeaderUp and HeaderDown are Caddy's header_up and header_down: the
	// operations on the request sent to a member (after the forwarded
	// headers; "Host" sets the Host sent) and on the member's answer.
	HeaderUp, HeaderDown []HeaderOp
	HealthInterval       time.Duration // default 5s
	HealthTimeout        time.Duration // default 2s
	HealthFails          int           // consecutive failures to mark down; default 2
	HealthPasses         int           // consecutive passes to mark up; default 1

	// Retries is how many other members a failed request may try. Default
	// 1; 0 means none.
	Retries int

	// Transport timeouts; zero means the default.
	DialTimeout           time.Duration // default 3s
	ResponseHeaderTimeout time.Duration // default 60s (mod_jk reply_timeout analogue)
	IdleTimeout           time.Duration // idle keep-alive to members; default 90s
	MaxIdleConns          int           // per member; default 256

	// AJP settings, for ajp:// members.
	AJPSecret     string
	AJPPacketSize int // default 8192; 8192..65536
	// AJPPing turns on the active health check of ajp:// members without a
	// HealthURI: a CPing every HealthInterval, failed when no CPong comes
	// within HealthTimeout (mod_jk ping_mode). Default off.
	AJPPing bool

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
}

// Member is one backend of a balancer.
type Member struct {
	// Name is the member's route (jvmRoute) and its name in the admin API.
	Name string
	// URL is http://host:port, https://host:port or ajp://host:port, the
	// port always explicit (Parse adds the scheme's default).
	URL      string
	Weight   int    // mod_jk lbfactor; default 1 (also for 0 from an import_jk loader)
	Domain   string // replication group
	Redirect string // preferred failover member
	// State is active (default), disabled or stopped.
	State string
	Pos   Pos // the member's name or URL token
}

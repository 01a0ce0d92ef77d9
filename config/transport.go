package config

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HTTPTransport is a reverse_proxy block's "transport http { ... }", Caddy's
// block for how the proxy speaks HTTP to its members. Four of its options
// are the balancer's own under Caddy's names and set the Balancer's fields,
// not these: dial_timeout, response_header_timeout, keepalive DURATION
// (idle_timeout) and keepalive_idle_conns_per_host (max_idle_conns).
// Writing one option both ways is an error.
//
// Zero values mean the default. AJP members keep their own transport: an
// option that no member of the balancer can use (tls on a balancer of
// ajp:// members only) is an error.
type HTTPTransport struct {
	// TLS is Caddy's tls, set by it or by any tls_* option: members written
	// without a scheme are https:// (on port 443 when none is written), and
	// a member written http:// or h2c:// is an error, as in Caddy.
	TLS bool
	// TLSServerName is the name sent in SNI and verified in members'
	// certificates; "" is the member's host.
	TLSServerName string
	// TLSTrustedCACerts are PEM files of the CAs that members' certificates
	// are verified against (tls_trusted_ca_certs, or Caddy's newer
	// tls_trust_pool file); nil: the system's roots.
	TLSTrustedCACerts []string
	// TLSClientCert and TLSClientKey are the PEM files of the certificate
	// Tether presents to members that ask for one (tls_client_auth).
	TLSClientCert, TLSClientKey string
	// TLSInsecureSkipVerify accepts any certificate from members.
	TLSInsecureSkipVerify bool
	// TLSTimeout bounds a TLS handshake with a member. Default 10s.
	TLSTimeout time.Duration
	// TLSRenegotiation is never (default), once or freely.
	TLSRenegotiation string
	// TLSExceptPorts are member ports that TLS does not apply to: members
	// written without a scheme on these ports stay http://.
	TLSExceptPorts []int
	// Versions are the HTTP versions spoken to members, as written: "1.1",
	// "2" (over TLS, chosen by ALPN) and "h2c" (cleartext HTTP/2 with prior
	// knowledge, for http:// members). nil: 1.1 and 2; an h2c:// member
	// always speaks h2c.
	Versions []string
	// KeepAliveOff closes each member connection after one request
	// (keepalive off).
	KeepAliveOff bool
	// KeepAliveInterval is the TCP keep-alive probe interval of member
	// connections. Default 30s.
	KeepAliveInterval time.Duration
	// MaxIdleConns is keepalive_idle_conns: the idle connections kept. Tether
	// keeps a pool per member, so it bounds each member's pool, as
	// max_idle_conns does. 0: max_idle_conns.
	MaxIdleConns int
	// MaxConnsPerHost bounds the connections to one member, dialing, busy
	// and idle; a request waits for one. 0: no limit.
	MaxConnsPerHost int
	// ReadBuffer and WriteBuffer are the buffer sizes of an HTTP/1.1
	// member connection, in bytes. Default 16 KiB each.
	ReadBuffer, WriteBuffer int
	// MaxResponseHeader bounds a member's response head, in bytes. Default
	// 1 MiB.
	MaxResponseHeader int64
	// ExpectContinueTimeout is how long a request with Expect:
	// 100-continue waits for the member's 100 before its body is sent
	// anyway. Default 1s.
	ExpectContinueTimeout time.Duration
	// ReadTimeout and WriteTimeout bound each read from and each write to
	// a member connection (Caddy's); a long-lived stream that is silent for
	// longer is cut. 0: none.
	ReadTimeout, WriteTimeout time.Duration
	// DialFallbackDelay is the RFC 6555 (happy eyeballs) delay before an
	// IPv4 attempt races a slow IPv6 one. Default 300ms; negative turns the
	// fallback off.
	DialFallbackDelay time.Duration
	// CompressionOff records Caddy's "compression off". Tether never asks
	// members for compression (answers pass as members send them), so it
	// changes nothing.
	CompressionOff bool
	// Pos is the transport directive.
	Pos Pos
}

// transportHTTPOptions are the options of "transport http".
var transportHTTPOptions = []string{
	"tls", "tls_server_name", "tls_trusted_ca_certs", "tls_trust_pool", "tls_client_auth",
	"tls_insecure_skip_verify", "tls_timeout", "tls_renegotiation", "tls_except_ports",
	"versions", "dial_timeout", "dial_fallback_delay", "response_header_timeout",
	"expect_continue_timeout", "read_timeout", "write_timeout", "keepalive", "keepalive_interval",
	"keepalive_idle_conns", "keepalive_idle_conns_per_host", "max_conns_per_host",
	"read_buffer", "write_buffer", "max_response_header", "compression",
}

// transportUnsupported are Caddy's transport http options Tether refuses,
// with the reason.
var transportUnsupported = map[string]string{
	"resolvers":         "members are resolved by the system resolver",
	"proxy_protocol":    "Tether does not send PROXY protocol headers to members",
	"forward_proxy_url": "Tether never sends member traffic through a forward proxy",
	"network_proxy":     "Tether never sends member traffic through a forward proxy",
	"local_address":     "member connections use the system's source address",
	"tls_curves":        "member connections use Go's default curves",
}

// transportAliases are the transport http options that are the balancer's
// own options under another name.
var transportAliases = map[string]string{
	"dial_timeout":                  "dial_timeout",
	"response_header_timeout":       "response_header_timeout",
	"keepalive":                     "idle_timeout",
	"keepalive_idle_conns_per_host": "max_idle_conns",
}

// ajpTransportOptions are the transport http options the AJP transport
// honours too (through the balancer's fields).
var ajpTransportOptions = []string{"dial_timeout", "response_header_timeout", "keepalive", "keepalive_idle_conns_per_host", "compression"}

// httpVersions are the values of versions.
var httpVersions = []string{"1.1", "2", "h2c"}

// transport parses "transport NAME [{ ... }]" into bal. seen holds the
// balancer's options so far (canonical names), for the aliases. It returns
// the options set, for the checks that need every member.
func (b *builder) transport(d *node, bal *Balancer, seen map[string]Pos) ([]token, error) {
	if err := d.argc(1, 1); err != nil {
		return nil, err
	}
	switch kind := d.arg(0); kind.text {
	case "http":
	case "fastcgi":
		return nil, errorf(kind.pos, "transport fastcgi (FastCGI to PHP-FPM) is not supported: Tether speaks HTTP and AJP to members; proxy to a PHP server over HTTP")
	default:
		return nil, errorf(kind.pos, "transport: unknown transport %q (want http)", kind.text)
	}
	t := &HTTPTransport{Pos: d.args[0].pos}
	bal.Transport = t
	own := map[string]Pos{}
	var set []token
	for _, o := range d.block {
		name := o.name()
		if why, ok := transportUnsupported[name]; ok {
			return nil, errorf(o.args[0].pos, "transport http: %s is not supported: %s", name, why)
		}
		if !slices.Contains(transportHTTPOptions, name) {
			return nil, unknown(o, "transport http option", transportHTTPOptions, nil, "")
		}
		if canon, ok := transportAliases[name]; ok && !(name == "keepalive" && o.nargs() == 1 && o.arg(0).text == "off") {
			if prev, dup := seen[canon]; dup {
				how := ""
				if canon != name {
					how = " as " + canon
				}
				return nil, errorf(o.args[0].pos, "%s is set twice (first at %s%s)", name, prev, how)
			}
			seen[canon] = o.args[0].pos
		}
		if err := once(own, o); err != nil {
			return nil, err
		}
		if strings.HasPrefix(name, "tls") {
			t.TLS = true
		}
		set = append(set, o.args[0])
		if err := b.transportOption(o, bal, t); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// transportOption parses one option of "transport http".
func (b *builder) transportOption(o *node, bal *Balancer, t *HTTPTransport) error {
	var err error
	switch name := o.name(); name {
	case "tls", "tls_insecure_skip_verify":
		if err = o.simple(0); err == nil && name == "tls_insecure_skip_verify" {
			t.TLSInsecureSkipVerify = true
		}
	case "tls_server_name":
		if err = o.simple(1); err == nil {
			t.TLSServerName, err = nonEmpty(o, o.arg(0))
		}
	case "tls_trusted_ca_certs":
		if err = o.argc(1, -1); err == nil {
			err = o.noBlock()
		}
		if err == nil {
			err = b.caFiles(o, o.args[1:], t)
		}
	case "tls_trust_pool":
		// Caddy 2.8's spelling: only its file source, inline.
		if err = o.argc(2, -1); err == nil {
			err = o.noBlock()
		}
		if err == nil && o.arg(0).text != "file" {
			err = errorf(o.arg(0).pos, "tls_trust_pool: source %q is not supported (want file PEM_FILE...)", o.arg(0).text)
		}
		if err == nil {
			err = b.caFiles(o, o.args[2:], t)
		}
	case "tls_client_auth":
		if err = o.argc(1, 2); err == nil {
			err = o.noBlock()
		}
		if err == nil && o.nargs() == 1 {
			err = errorf(o.arg(0).pos, "tls_client_auth %s: a certificate Caddy obtains for a name is not supported; give CERT_FILE KEY_FILE", o.arg(0).text)
		}
		if err == nil {
			err = b.keyPair(o)
		}
		if err == nil {
			t.TLSClientCert, t.TLSClientKey = o.arg(0).text, o.arg(1).text
		}
	case "tls_timeout":
		err = durOption(o, &t.TLSTimeout)
	case "tls_renegotiation":
		if err = o.simple(1); err == nil {
			t.TLSRenegotiation, err = oneOf(o, o.arg(0), "level", []string{"never", "once", "freely"})
		}
	case "tls_except_ports":
		if err = o.argc(1, -1); err == nil {
			err = o.noBlock()
		}
		for _, p := range o.args[1:] {
			if err != nil {
				break
			}
			var port int
			if port, err = intArg(o, p, 1, 65535); err == nil {
				t.TLSExceptPorts = append(t.TLSExceptPorts, port)
			}
		}
	case "versions":
		if err = o.argc(1, -1); err == nil {
			err = o.noBlock()
		}
		for _, v := range o.args[1:] {
			if err != nil {
				break
			}
			switch {
			case v.text == "3":
				err = errorf(v.pos, "versions: HTTP/3 to members is not supported (want 1.1, 2 or h2c)")
			case slices.Contains(t.Versions, v.text):
				err = errorf(v.pos, "versions: %s is listed twice", v.text)
			default:
				var s string
				if s, err = oneOf(o, v, "version", httpVersions); err == nil {
					t.Versions = append(t.Versions, s)
				}
			}
		}
	case "dial_timeout":
		err = durOption(o, &bal.DialTimeout)
	case "response_header_timeout":
		err = durOption(o, &bal.ResponseHeaderTimeout)
	case "dial_fallback_delay":
		if err = o.simple(1); err == nil {
			if rest, neg := strings.CutPrefix(o.arg(0).text, "-"); neg {
				// Caddy: negative turns the fallback off.
				if _, perr := ParseDuration(rest); perr != nil || rest == "0" {
					err = errorf(o.arg(0).pos, "dial_fallback_delay: bad duration %q (want e.g. 300ms, or a negative one to turn the fallback off)", o.arg(0).text)
				}
				t.DialFallbackDelay = -1
				break
			}
			t.DialFallbackDelay, err = durArg(o, o.arg(0), false)
		}
	case "expect_continue_timeout":
		err = durOption(o, &t.ExpectContinueTimeout)
	case "read_timeout":
		err = durOption(o, &t.ReadTimeout)
	case "write_timeout":
		err = durOption(o, &t.WriteTimeout)
	case "keepalive":
		if err = o.simple(1); err == nil {
			if o.arg(0).text == "off" {
				t.KeepAliveOff = true
				break
			}
			bal.IdleTimeout, err = durArg(o, o.arg(0), false)
		}
	case "keepalive_interval":
		err = durOption(o, &t.KeepAliveInterval)
	case "keepalive_idle_conns":
		err = intOption(o, &t.MaxIdleConns, 1, 1<<20)
	case "keepalive_idle_conns_per_host":
		err = intOption(o, &bal.MaxIdleConns, 1, 1<<20)
	case "max_conns_per_host":
		err = intOption(o, &t.MaxConnsPerHost, 1, 1<<20)
	case "read_buffer", "write_buffer", "max_response_header":
		var v int64
		if v, err = sizeOption(o, 512, 16<<20); err == nil {
			switch name {
			case "read_buffer":
				t.ReadBuffer = int(v)
			case "write_buffer":
				t.WriteBuffer = int(v)
			default:
				t.MaxResponseHeader = v
			}
		}
	case "compression":
		if err = o.simple(1); err == nil && o.arg(0).text != "off" {
			err = errorf(o.arg(0).pos, "compression: want off, got %q (Tether never asks members to compress)", o.arg(0).text)
		}
		t.CompressionOff = err == nil
	}
	return err
}

// sizeOption parses a directive of one byte size within min..max.
func sizeOption(o *node, min, max int64) (int64, error) {
	if err := o.simple(1); err != nil {
		return 0, err
	}
	v, err := parseSize(o.arg(0).text)
	if err != nil {
		return 0, errorf(o.arg(0).pos, "%s: %w", o.name(), err)
	}
	if v < min || v > max {
		return 0, errorf(o.arg(0).pos, "%s: %d is out of range %d..%d", o.name(), v, min, max)
	}
	return v, nil
}

// keyPair checks that "DIRECTIVE CERT KEY" names a certificate and its key.
func (b *builder) keyPair(o *node) error {
	var pem [2][]byte
	for i := range pem {
		var err error
		if pem[i], err = b.opts.ReadFile(o.arg(i).text); err != nil {
			return errorf(o.arg(i).pos, "%s: %w", o.name(), err)
		}
	}
	if _, err := tls.X509KeyPair(pem[0], pem[1]); err != nil {
		return errorf(o.arg(0).pos, "%s: %s and %s: %v", o.name(), o.arg(0).text, o.arg(1).text, err)
	}
	return nil
}

// caFiles checks PEM files of CA certificates and records them.
func (b *builder) caFiles(o *node, files []token, t *HTTPTransport) error {
	if len(t.TLSTrustedCACerts) > 0 {
		return errorf(o.args[0].pos, "%s: the trusted CAs are already given (tls_trusted_ca_certs and tls_trust_pool are one option)", o.name())
	}
	for _, f := range files {
		pem, err := b.opts.ReadFile(f.text)
		if err != nil {
			return errorf(f.pos, "%s: %w", o.name(), err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return errorf(f.pos, "%s: %s holds no PEM certificate", o.name(), f.text)
		}
		t.TLSTrustedCACerts = append(t.TLSTrustedCACerts, f.text)
	}
	return nil
}

// memberForm is how a member was written: without a name (named after its
// host:port), without a scheme, without a port. The transport's tls decides
// the scheme (and default port) of a member without a scheme.
type memberForm struct {
	named, noScheme, noPort bool
}

// formOf reads a member as written: NAME=URL or URL.
func formOf(raw string) memberForm {
	var f memberForm
	if i := strings.IndexByte(raw, '='); i >= 0 && !strings.ContainsAny(raw[:i], ":/") {
		raw, f.named = raw[i+1:], true
	}
	f.noScheme = !strings.Contains(raw, "://")
	if !f.noScheme {
		raw = raw[strings.Index(raw, "://")+3:]
	}
	raw = strings.TrimSuffix(raw, "/")
	if _, _, err := net.SplitHostPort(raw); err != nil {
		f.noPort = true
	}
	return f
}

// applyTransport applies a transport http block to the balancer's members
// once all are known: tls makes members written without a scheme https://,
// and every member must be able to speak one of the versions. opts are the
// options the block set (for AJP's check).
func applyTransport(bal *Balancer, forms map[int]memberForm, opts []token) error {
	t := bal.Transport
	if t == nil {
		return nil
	}
	allAJP := bal.DiscoverService == "" && len(bal.Members) > 0
	for i := range bal.Members {
		m := &bal.Members[i]
		scheme, hostport, _ := strings.Cut(m.URL, "://")
		if scheme != "ajp" {
			allAJP = false
		}
		if !t.TLS {
			continue
		}
		host, port, _ := net.SplitHostPort(hostport)
		p, _ := strconv.Atoi(port)
		switch f := forms[i]; {
		case f.noScheme && slices.Contains(t.TLSExceptPorts, p):
		case f.noScheme:
			if f.noPort {
				port = "443"
			}
			m.URL = "https://" + net.JoinHostPort(host, port)
			if !f.named {
				m.Name = net.JoinHostPort(host, port)
			}
		case scheme == "http" || scheme == "h2c":
			return errorf(m.Pos, "member %s is %s:// but transport http at %s has TLS (tls or a tls_* option): write https:// or no scheme", m.Name, scheme, t.Pos)
		}
	}
	if allAJP {
		for _, o := range opts {
			if !slices.Contains(ajpTransportOptions, o.text) {
				return errorf(o.pos, "transport http: %s does not apply to ajp:// members (AJP has its own transport: ajp_secret, ajp_packet_size, ajp_ping)", o.text)
			}
		}
	}
	if t.Versions == nil {
		return nil
	}
	has := func(v string) bool { return slices.Contains(t.Versions, v) }
	for _, m := range bal.Members {
		switch scheme, _, _ := strings.Cut(m.URL, "://"); {
		case scheme == "http" && !has("1.1") && !has("h2c"):
			return errorf(m.Pos, "member %s is http:// (cleartext) but versions at %s has neither 1.1 nor h2c (HTTP/2 without TLS is h2c)", m.Name, t.Pos)
		case scheme == "https" && !has("1.1") && !has("2"):
			return errorf(m.Pos, "member %s is https:// but versions at %s has neither 1.1 nor 2 (h2c is HTTP/2 without TLS)", m.Name, t.Pos)
		}
	}
	return nil
}

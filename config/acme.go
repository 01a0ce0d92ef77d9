package config

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// DNSProvider is a DNS provider that solves ACME DNS-01 challenges: a
// site's `tls { dns PROVIDER [{ ... }] }` or the global
// `acme_dns PROVIDER [{ ... }]` (Caddy's names). Route 53 is the one
// provider built in, with the options of Caddy's route53 module
// (github.com/caddy-dns/route53) that mean something to Tether.
type DNSProvider struct {
	// Name is the provider: "route53".
	Name string
	// HostedZoneID is the Route 53 hosted zone the challenge records go
	// in; "": the public zone named like the record's zone, looked up.
	HostedZoneID string
	// Region signs the Route 53 requests; "": the SDK's (AWS_REGION),
	// else us-east-1.
	Region string
	// Endpoint is a Route 53-compatible endpoint URL (moto_server); ""
	// for AWS.
	Endpoint string
	// AccessKeyID and SecretAccessKey are static credentials, with
	// SessionToken for temporary ones; "": the SDK's chain (environment,
	// shared files, instance role). Never logged.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Profile is the shared config profile the SDK reads (AWS_PROFILE's
	// setting); "": the default one.
	Profile string
	// MaxRetries bounds the attempts of each Route 53 call, the first
	// included (the SDK's max attempts, as libdns/route53 and so Caddy
	// count them); 0: the SDK's default (3).
	MaxRetries int
	Pos        Pos
}

// EAB is an ACME External Account Binding (RFC 8555 7.3.4): the key id and
// base64url HMAC key a CA such as ZeroSSL or Google Trust Services hands
// out, for the global `acme_eab { key_id; mac_key }` or a site's
// `tls { eab KEY_ID MAC_KEY }` (Caddy's names).
type EAB struct {
	KeyID  string
	MACKey string
	Pos    Pos
}

// dnsProviders are the providers `dns` and `acme_dns` accept.
var dnsProviders = []string{"route53"}

// route53Options are the options of a route53 block: Caddy's route53
// module's that Tether honours (with their old spellings), and endpoint.
var route53Options = []string{"hosted_zone_id", "region", "endpoint", "access_key_id", "secret_access_key",
	"session_token", "token", "profile", "aws_profile", "max_retries"}

// route53Ignored are the route53 module's options Tether accepts without
// honouring them, each with why.
var route53Ignored = map[string]string{
	"wait_for_route53_sync":       "Tether does not wait for Route 53's own sync (INSYNC); the ACME client checks that the record resolves (propagation_timeout, resolvers)",
	"wait_for_propagation":        "Tether does not wait for Route 53's own sync (INSYNC); the ACME client checks that the record resolves (propagation_timeout, resolvers)",
	"route53_max_wait":            "Tether does not wait for Route 53's own sync; propagation_timeout bounds the wait for the record",
	"max_wait_dur":                "Tether does not wait for Route 53's own sync; propagation_timeout bounds the wait for the record",
	"skip_route53_sync_on_delete": "Tether never waits for a deletion",
	"debug_logging":               "the process log's debug level shows the DNS-01 steps",
}

// dnsProvider parses "dns|acme_dns PROVIDER [{ OPTION VALUE ... }]".
func (b *builder) dnsProvider(n *node) (*DNSProvider, error) {
	if err := n.argc(1, -1); err != nil {
		return nil, err
	}
	if a := n.arg(0); a.kind == tokWord && !slices.Contains(dnsProviders, a.text) {
		// Every other DNS provider is a Caddy plugin (github.com/caddy-dns/NAME).
		return nil, errorf(a.pos, "%s: provider %q is a Caddy plugin (github.com/caddy-dns/%s), not part of Tether; Tether has route53", n.name(), a.text, a.text)
	}
	name, err := oneOf(n, n.arg(0), "provider", dnsProviders)
	if err != nil {
		return nil, err
	}
	if n.nargs() > 1 {
		return nil, errorf(n.arg(1).pos, "%s %s: options go in a block (hosted_zone_id, region, access_key_id, secret_access_key, ...); without credentials, the AWS SDK's chain gives them", n.name(), name)
	}
	p := &DNSProvider{Name: name, Pos: n.args[0].pos}
	seen := map[string]Pos{}
	for _, s := range n.block {
		opt := s.name()
		canon := map[string]string{"token": "session_token", "aws_profile": "profile"}[opt]
		if canon == "" {
			canon = opt
		}
		if prev, dup := seen[canon]; dup {
			return nil, errorf(s.args[0].pos, "%s is set twice (first at %s)", opt, prev)
		}
		seen[canon] = s.args[0].pos
		if why, ok := route53Ignored[opt]; ok {
			if err := s.argc(0, 1); err != nil {
				return nil, err
			}
			b.warn(s.args[0].pos, n.name()+" "+name+": "+opt+" is not honoured: "+why)
			continue
		}
		if !slices.Contains(route53Options, opt) {
			known := append(slices.Clone(route53Options[:10]), "wait_for_route53_sync", "route53_max_wait", "skip_route53_sync_on_delete", "debug_logging")
			return nil, unknown(s, n.name()+" "+name+" option", known, nil, "")
		}
		if err := s.simple(1); err != nil {
			return nil, err
		}
		v := s.arg(0)
		if v.text == "" {
			return nil, errorf(v.pos, "%s: empty value", opt)
		}
		switch canon {
		case "hosted_zone_id":
			p.HostedZoneID = v.text
		case "region":
			p.Region = v.text
		case "endpoint":
			if msg := checkURL(v.text); msg != "" {
				return nil, errorf(v.pos, "endpoint: %s", msg)
			}
			p.Endpoint = v.text
		case "access_key_id":
			p.AccessKeyID = v.text
		case "secret_access_key":
			p.SecretAccessKey = v.text
		case "session_token":
			p.SessionToken = v.text
		case "profile":
			p.Profile = v.text
		case "max_retries":
			if p.MaxRetries, err = intArg(s, v, 1, 20); err != nil {
				return nil, err
			}
		}
	}
	switch {
	case (p.AccessKeyID == "") != (p.SecretAccessKey == ""):
		at, missing := seen["access_key_id"], "secret_access_key"
		if p.AccessKeyID == "" {
			at, missing = seen["secret_access_key"], "access_key_id"
		}
		return nil, errorf(at, "%s %s: static credentials need both access_key_id and secret_access_key (%s is missing)", n.name(), name, missing)
	case p.SessionToken != "" && p.AccessKeyID == "":
		return nil, errorf(seen["session_token"], "%s %s: session_token goes with access_key_id and secret_access_key", n.name(), name)
	}
	return p, nil
}

// acmeEAB parses the global "acme_eab { key_id ID; mac_key KEY }".
func acmeEAB(n *node) (*EAB, error) {
	if err := n.argc(0, 0); err != nil {
		return nil, err
	}
	if !n.hasBlock {
		return nil, errorf(n.args[0].pos, "acme_eab: want a block with key_id and mac_key")
	}
	e := &EAB{Pos: n.args[0].pos}
	err := optionBlock(n, "acme_eab option", []string{"key_id", "mac_key"}, func(k, v string) {
		if k == "key_id" {
			e.KeyID = v
		} else {
			e.MACKey = v
		}
	})
	if err != nil {
		return nil, err
	}
	return e, checkEAB(e)
}

// tlsEAB parses a site's "eab KEY_ID MAC_KEY".
func tlsEAB(n *node) (*EAB, error) {
	if err := n.simple(2); err != nil {
		return nil, err
	}
	e := &EAB{KeyID: n.arg(0).text, MACKey: n.arg(1).text, Pos: n.args[0].pos}
	return e, checkEAB(e)
}

// checkEAB requires both halves, and a MAC key in base64url (what CAs
// hand out; RFC 8555 uses it for every binary field).
func checkEAB(e *EAB) error {
	switch {
	case e.KeyID == "":
		return errorf(e.Pos, "eab: key_id is required")
	case e.MACKey == "":
		return errorf(e.Pos, "eab: mac_key is required")
	}
	for _, c := range strings.TrimRight(e.MACKey, "=") {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return errorf(e.Pos, "eab: mac_key has %q: want the base64url key the CA gave", c)
		}
	}
	return nil
}

// resolvers parses a tls block's "resolvers ADDR..." (Caddy's): DNS
// servers as IP or IP:port (port 53 by default).
func resolvers(n *node) ([]string, error) {
	if err := n.argc(1, -1); err != nil {
		return nil, err
	}
	if err := n.noBlock(); err != nil {
		return nil, err
	}
	var out []string
	for _, t := range n.args[1:] {
		if ap, err := netip.ParseAddrPort(t.text); err == nil {
			out = append(out, ap.String())
			continue
		}
		if ip, err := netip.ParseAddr(strings.Trim(t.text, "[]")); err == nil {
			out = append(out, netip.AddrPortFrom(ip, 53).String())
			continue
		}
		return nil, errorf(t.pos, "resolvers: %q is not an IP address or IP:port", t.text)
	}
	return out, nil
}

// propagation parses "propagation_timeout D|-1" and "propagation_delay D":
// -1 (timeout only) skips the propagation check, as in Caddy.
func propagation(n *node) (time.Duration, error) {
	if err := n.simple(1); err != nil {
		return 0, err
	}
	if n.name() == "propagation_timeout" && n.arg(0).text == "-1" {
		return -1, nil
	}
	d, err := ParseDuration(n.arg(0).text)
	if err != nil {
		return 0, errorf(n.arg(0).pos, "%s: %w", n.name(), err)
	}
	if d < 0 || d > time.Hour {
		return 0, errorf(n.arg(0).pos, "%s: %s is out of range 0..1h", n.name(), d)
	}
	return d, nil
}

// tlsACMEOption parses a tls block's DNS-01 and EAB options into t.
func (b *builder) tlsACMEOption(t *TLS, s *node) error {
	var err error
	dup := false
	switch s.name() {
	case "dns":
		dup = t.DNS != nil
		if !dup {
			t.DNS, err = b.dnsProvider(s)
		}
	case "resolvers":
		dup = t.Resolvers != nil
		if !dup {
			t.Resolvers, err = resolvers(s)
		}
	case "propagation_timeout":
		dup = t.PropagationTimeout != 0
		if !dup {
			t.PropagationTimeout, err = propagation(s)
		}
	case "propagation_delay":
		dup = t.PropagationDelay != 0
		if !dup {
			t.PropagationDelay, err = propagation(s)
		}
	case "eab":
		dup = t.EAB != nil
		if !dup {
			t.EAB, err = tlsEAB(s)
		}
	}
	if dup {
		return errorf(s.args[0].pos, "%s is set twice in the tls block", s.name())
	}
	return err
}

// checkTLSACME refuses DNS-01 and EAB options on certificates that are not
// ACME's, and challenges beside dns (with a DNS provider, DNS-01 is the
// only challenge solved).
func checkTLSACME(t *TLS) error {
	acme := t.DNS != nil || t.Resolvers != nil || t.PropagationTimeout != 0 || t.PropagationDelay != 0 || t.EAB != nil
	switch {
	case acme && t.Mode != "auto":
		return errorf(t.Pos, "tls: dns, resolvers, propagation and eab are for ACME certificates, not tls %s", t.Mode)
	case t.DNS != nil && len(t.Challenges) > 0:
		return errorf(t.DNS.Pos, "dns: not with challenges (a DNS provider solves DNS-01 only)")
	}
	return nil
}

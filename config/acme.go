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
// provider built in.
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
	Pos      Pos
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

// route53Options are the options of a route53 block (Caddy's route53
// module spells them so too).
var route53Options = []string{"hosted_zone_id", "region", "endpoint"}

// dnsProvider parses "dns|acme_dns PROVIDER [{ hosted_zone_id ID; region R;
// endpoint URL }]".
func dnsProvider(n *node) (*DNSProvider, error) {
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
		return nil, errorf(n.arg(1).pos, "%s %s: options go in a block (hosted_zone_id, region, endpoint); credentials come from the AWS SDK's chain", n.name(), name)
	}
	p := &DNSProvider{Name: name, Pos: n.args[0].pos}
	err = optionBlock(n, n.name()+" "+name+" option", route53Options, func(k, v string) {
		switch k {
		case "hosted_zone_id":
			p.HostedZoneID = v
		case "region":
			p.Region = v
		case "endpoint":
			p.Endpoint = v
		}
	})
	if err != nil {
		return nil, err
	}
	for _, s := range n.block {
		if v := s.arg(0); v.text == "" {
			return nil, errorf(v.pos, "%s: empty value", s.name())
		}
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
func tlsACMEOption(t *TLS, s *node) error {
	var err error
	dup := false
	switch s.name() {
	case "dns":
		dup = t.DNS != nil
		if !dup {
			t.DNS, err = dnsProvider(s)
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

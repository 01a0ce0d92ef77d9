package certs

import (
	"context"
	"fmt"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/proxy/certs/route53dns"
)

// ownACME reports whether a site's tls block sets ACME options of its own
// (DNS-01 or EAB), so that it needs a certmagic config of its own.
func ownACME(t *config.TLS) bool {
	return t != nil && (t.DNS != nil || t.Resolvers != nil || t.PropagationTimeout != 0 || t.PropagationDelay != 0 || t.EAB != nil)
}

// dnsFor is the DNS provider that solves policy p's challenges: the
// site's, else the global acme_dns; nil: none (HTTP-01, TLS-ALPN-01).
// p nil is the shared ACME config.
func (m *Manager) dnsFor(p *Policy) *config.DNSProvider {
	if p != nil && p.site.TLS != nil && p.site.TLS.DNS != nil {
		return p.site.TLS.DNS
	}
	return m.g.ACMEDNS
}

// acmeOptions sets the DNS-01 solver and the External Account Binding of
// policy p's ACME issuer (p nil: the shared one, from the global options).
func (m *Manager) acmeOptions(ctx context.Context, tmpl *certmagic.ACMEIssuer, p *Policy) error {
	var t *config.TLS
	if p != nil {
		t = p.site.TLS
	}
	eab := m.g.ACMEEAB
	if t != nil && t.EAB != nil {
		eab = t.EAB
	}
	if eab != nil {
		tmpl.ExternalAccount = &acme.EAB{KeyID: eab.KeyID, MACKey: eab.MACKey}
	}
	d := m.dnsFor(p)
	if d == nil {
		return nil
	}
	prov, err := newDNSProvider(ctx, d)
	if err != nil {
		return err
	}
	solver := &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{DNSProvider: prov, Logger: tmpl.Logger}}
	if t != nil {
		solver.Resolvers = t.Resolvers
		solver.PropagationTimeout = t.PropagationTimeout
		solver.PropagationDelay = t.PropagationDelay
	}
	tmpl.DNS01Solver = solver
	return nil
}

// newDNSProvider builds the provider d names.
func newDNSProvider(ctx context.Context, d *config.DNSProvider) (certmagic.DNSProvider, error) {
	switch d.Name {
	case "route53":
		p, err := route53dns.New(ctx, route53dns.Config{HostedZoneID: d.HostedZoneID, Region: d.Region, Endpoint: d.Endpoint,
			AccessKeyID: d.AccessKeyID, SecretAccessKey: d.SecretAccessKey, SessionToken: d.SessionToken,
			Profile: d.Profile, MaxAttempts: d.MaxRetries})
		if err != nil {
			return nil, fmt.Errorf("%s: dns route53: %w", d.Pos, err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("%s: dns: unknown provider %q", d.Pos, d.Name)
}

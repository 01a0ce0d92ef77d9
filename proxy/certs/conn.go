package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tether-proxy/tether/config"
)

// Conn is how a site's handshakes go besides its certificate: the TLS
// versions, TLS 1.2 cipher suites and key exchange groups they may use,
// and whether and how they ask the client for a certificate (the tls
// directive's protocols, ciphers, curves and client_auth). It is
// immutable; sites with equal settings have equal Keys.
type Conn struct {
	// Key stands for the settings: "" for the defaults, else a canonical
	// text of every setting (CAs and pinned leaves by fingerprint).
	Key string

	min, max uint16
	ciphers  []uint16
	curves   []tls.CurveID
	auth     tls.ClientAuthType
	mode     string // client_auth mode; "" without client_auth
	cas      *x509.CertPool
	pins     []*x509.Certificate // trusted leaves; nil: any that verifies
}

// defaultCiphers are the TLS 1.2 suites of a site without ciphers: ECDHE
// with an AEAD cipher (all of TLS 1.3's are AEAD).
var defaultCiphers = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// DefaultConn is the handshake of a site without settings: TLS 1.2 and
// 1.3, defaultCiphers, Go's groups, no client certificate.
var DefaultConn = &Conn{min: tls.VersionTLS12, max: tls.VersionTLS13, ciphers: defaultCiphers}

var curveIDs = map[string]tls.CurveID{
	"x25519":         tls.X25519,
	"secp256r1":      tls.CurveP256,
	"secp384r1":      tls.CurveP384,
	"secp521r1":      tls.CurveP521,
	"x25519mlkem768": tls.X25519MLKEM768,
}

var versions = map[string]uint16{"tls1.2": tls.VersionTLS12, "tls1.3": tls.VersionTLS13}

// NewConn compiles the handshake settings of t (nil: DefaultConn). The
// config parser has checked the names and combinations.
func NewConn(t *config.TLS) (*Conn, error) {
	if t == nil || t.ProtocolMin == "" && len(t.Ciphers) == 0 && len(t.Curves) == 0 && t.ClientAuth == nil {
		return DefaultConn, nil
	}
	c := *DefaultConn
	var key strings.Builder
	if t.ProtocolMin != "" {
		c.min = versions[t.ProtocolMin]
		if c.min == 0 {
			return nil, fmt.Errorf("protocols: unknown version %q", t.ProtocolMin)
		}
	}
	if t.ProtocolMax != "" {
		c.max = versions[t.ProtocolMax]
		if c.max == 0 {
			return nil, fmt.Errorf("protocols: unknown version %q", t.ProtocolMax)
		}
	}
	fmt.Fprintf(&key, "versions=%x-%x", c.min, c.max)
	if len(t.Ciphers) > 0 {
		c.ciphers = nil
		for _, name := range t.Ciphers {
			i := slices.IndexFunc(tls.CipherSuites(), func(s *tls.CipherSuite) bool { return s.Name == name })
			if i < 0 {
				return nil, fmt.Errorf("ciphers: unknown cipher suite %q", name)
			}
			c.ciphers = append(c.ciphers, tls.CipherSuites()[i].ID)
		}
		slices.Sort(c.ciphers) // Go picks in its own order: the list's order means nothing
		fmt.Fprintf(&key, " ciphers=%x", c.ciphers)
	}
	for _, name := range t.Curves {
		id, ok := curveIDs[name]
		if !ok {
			return nil, fmt.Errorf("curves: unknown curve %q", name)
		}
		c.curves = append(c.curves, id)
	}
	if len(c.curves) > 0 {
		fmt.Fprintf(&key, " curves=%v", c.curves)
	}
	if ca := t.ClientAuth; ca != nil {
		c.mode = ca.Mode
		if err := c.clientAuth(ca, &key); err != nil {
			return nil, err
		}
	}
	c.Key = key.String()
	return &c, nil
}

// clientAuth compiles client_auth. Trusted CAs go to Go's verification
// (ClientCAs); pinned leaves are checked by verifyConnection, which also
// runs on resumed sessions. Pins alone ask for any certificate and accept
// only theirs: Go would verify it against the system roots otherwise.
func (c *Conn) clientAuth(ca *config.ClientAuth, key *strings.Builder) error {
	fmt.Fprintf(key, " client_auth=%s", ca.Mode)
	if len(ca.TrustedCAs) > 0 {
		c.cas = x509.NewCertPool()
		for _, t := range ca.TrustedCAs {
			cert, err := x509.ParseCertificate(t.DER)
			if err != nil {
				return fmt.Errorf("%s: trusted CA %s: %w", t.Pos, t.Subject, err)
			}
			c.cas.AddCert(cert)
			fmt.Fprintf(key, " ca=%s", t.Fingerprint()[:16])
		}
	}
	for _, t := range ca.TrustedLeaves {
		cert, err := x509.ParseCertificate(t.DER)
		if err != nil {
			return fmt.Errorf("%s: trusted leaf %s: %w", t.Pos, t.Subject, err)
		}
		c.pins = append(c.pins, cert)
		fmt.Fprintf(key, " leaf=%s", t.Fingerprint()[:16])
	}
	switch ca.Mode {
	case "request":
		c.auth = tls.RequestClientCert
	case "require":
		c.auth = tls.RequireAnyClientCert
	case "verify_if_given":
		c.auth = tls.VerifyClientCertIfGiven
		if c.cas == nil {
			c.auth = tls.RequestClientCert // the pins decide
		}
	case "require_and_verify":
		c.auth = tls.RequireAndVerifyClientCert
		if c.cas == nil {
			c.auth = tls.RequireAnyClientCert // the pins decide
		}
	default:
		return fmt.Errorf("client_auth: unknown mode %q", ca.Mode)
	}
	return nil
}

// ClientAuth is the client_auth mode ("request", "require",
// "verify_if_given", "require_and_verify"), or "" when the handshake asks
// for no certificate.
func (c *Conn) ClientAuth() string { return c.mode }

// verifies reports whether the handshake checks a given certificate.
func (c *Conn) verifies() bool {
	return c.mode == "verify_if_given" || c.mode == "require_and_verify"
}

// Verified reports whether the client certificate of a handshake made
// with c (cs) was verified: it chained to a trusted CA, or, with pinned
// leaves alone, it is one of them (verifyConnection refused any other).
func (c *Conn) Verified(cs *tls.ConnectionState) bool {
	if cs == nil || len(cs.PeerCertificates) == 0 || !c.verifies() {
		return false
	}
	return len(cs.VerifiedChains) > 0 || c.cas == nil && len(c.pins) > 0
}

// ErrNotTrusted means a client certificate failed the site's verification.
var ErrNotTrusted = errors.New("client certificate not trusted")

// VerifyChain checks a client certificate chain (leaf first) that arrived
// some other way than this handshake (a load balancer's header) as a
// handshake made with c would have: against the trusted CAs, with the rest
// of the chain as intermediates, for client authentication, and against
// the pinned leaves. It fails when c verifies nothing.
func (c *Conn) VerifyChain(chain []*x509.Certificate, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	if !c.verifies() {
		return fmt.Errorf("%w: the site verifies no client certificate", ErrNotTrusted)
	}
	leaf := chain[0]
	if c.cas != nil {
		inter := x509.NewCertPool()
		for _, ic := range chain[1:] {
			inter.AddCert(ic)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: c.cas, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotTrusted, err)
		}
	}
	return c.checkPins(leaf, now)
}

// checkPins refuses a leaf that is not one of the pinned ones, or, with
// pins alone (no CA checked its dates), outside its validity.
func (c *Conn) checkPins(leaf *x509.Certificate, now time.Time) error {
	if len(c.pins) == 0 {
		return nil
	}
	if !slices.ContainsFunc(c.pins, leaf.Equal) {
		return fmt.Errorf("%w: not one of the trusted leaf certificates", ErrNotTrusted)
	}
	if c.cas == nil && (now.Before(leaf.NotBefore) || now.After(leaf.NotAfter)) {
		return fmt.Errorf("%w: outside its validity (%s to %s)", ErrNotTrusted, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// verifyConnection is the handshake's tls.Config.VerifyConnection with
// pinned leaves: Go has checked the chain (with CAs) or nothing (without);
// the leaf must be one of the pins. It runs on resumed sessions too.
func (c *Conn) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // the mode decided whether none is allowed
	}
	return c.checkPins(cs.PeerCertificates[0], time.Now())
}

// apply puts c's settings on cfg, a copy of a listener's base config.
func (c *Conn) apply(cfg *tls.Config) {
	cfg.MinVersion, cfg.MaxVersion = c.min, c.max
	cfg.CipherSuites = c.ciphers
	cfg.CurvePreferences = c.curves
	cfg.ClientAuth = c.auth
	cfg.ClientCAs = c.cas
	if len(c.pins) > 0 {
		cfg.VerifyConnection = c.verifyConnection
	}
	if c.auth != tls.NoClientCert {
		// A session resumed from a ticket carries the certificate of its
		// first handshake, perhaps one made under another site's policy:
		// as Caddy, make every client-certificate handshake a full one.
		cfg.SessionTicketsDisabled = true
	}
}

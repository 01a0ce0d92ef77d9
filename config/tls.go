package config

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
)

// The handshake settings of the tls directive (Caddy's names and
// semantics):
//
//	tls ... {
//	    protocols tls1.2|tls1.3 [tls1.2|tls1.3]
//	    ciphers   SUITE...
//	    curves    x25519|secp256r1|secp384r1|secp521r1|x25519mlkem768 ...
//	    client_auth {
//	        mode                   request|require|verify_if_given|require_and_verify
//	        trusted_ca_cert        BASE64_DER
//	        trusted_ca_cert_file   PEM_FILE
//	        trusted_leaf_cert      BASE64_DER
//	        trusted_leaf_cert_file PEM_FILE
//	        trust_pool file [PEM_FILE...] { pem_file PEM_FILE... }
//	        trust_pool inline { trust_der BASE64_DER }
//	    }
//	}
//
// Certificate files are read when the config is parsed (as Caddy does), so
// a reload takes a renewed CA bundle, and a file that cannot be read or
// holds no certificate is an error at its name.

// tlsVersions are the protocol versions protocols accepts, lowest first.
var tlsVersions = []string{"tls1.2", "tls1.3"}

// tlsCurves are the key exchange groups curves accepts (Caddy's names);
// tls13OnlyCurves need TLS 1.3 (hybrid post-quantum groups).
var (
	tlsCurves       = []string{"x25519", "secp256r1", "secp384r1", "secp521r1", "x25519mlkem768"}
	tls13OnlyCurves = []string{"x25519mlkem768"}
)

// clientAuthModes are Caddy's client_auth modes.
var clientAuthModes = []string{"request", "require", "verify_if_given", "require_and_verify"}

// tlsSetting parses one of the handshake settings of a tls block into t,
// and reports whether s was one.
func (b *builder) tlsSetting(s *node, t *TLS, seen map[string]Pos) (bool, error) {
	switch s.name() {
	case "protocols", "ciphers", "curves", "client_auth":
	default:
		return false, nil
	}
	if err := once(seen, s); err != nil {
		return true, err
	}
	switch s.name() {
	case "protocols":
		return true, tlsProtocols(s, t)
	case "ciphers":
		return true, tlsCiphers(s, t)
	case "curves":
		return true, tlsCurveList(s, t)
	default:
		ca, err := b.clientAuth(s)
		t.ClientAuth = ca
		return true, err
	}
}

// tlsProtocols parses "protocols MIN [MAX]".
func tlsProtocols(s *node, t *TLS) error {
	if err := s.argc(1, 2); err != nil {
		return err
	}
	if err := s.noBlock(); err != nil {
		return err
	}
	for i, a := range s.args[1:] {
		v := strings.ToLower(a.text)
		switch v {
		case "tls1.0", "tls1.1", "ssl3.0":
			return errorf(a.pos, "protocols: %s is insecure and not supported (want tls1.2 or tls1.3)", a.text)
		}
		if !slices.Contains(tlsVersions, v) {
			return errorf(a.pos, "protocols: unknown version %q (want tls1.2 or tls1.3)", a.text)
		}
		if i == 0 {
			t.ProtocolMin = v
		} else {
			t.ProtocolMax = v
		}
	}
	if t.ProtocolMax != "" && t.ProtocolMin > t.ProtocolMax {
		return errorf(s.arg(1).pos, "protocols: the highest version %s is below the lowest, %s", t.ProtocolMax, t.ProtocolMin)
	}
	return nil
}

// tlsCiphers parses "ciphers SUITE...": names of tls.CipherSuites (the
// suites Go implements without known weaknesses).
func tlsCiphers(s *node, t *TLS) error {
	if err := s.argc(1, -1); err != nil {
		return err
	}
	if err := s.noBlock(); err != nil {
		return err
	}
	for _, a := range s.args[1:] {
		name := strings.ToUpper(a.text)
		if slices.ContainsFunc(tls.InsecureCipherSuites(), func(c *tls.CipherSuite) bool { return c.Name == name }) {
			return errorf(a.pos, "ciphers: %s has known weaknesses and is not offered (want one of %s)", a.text, strings.Join(cipherNames(), ", "))
		}
		if !slices.Contains(cipherNames(), name) {
			return errorf(a.pos, "ciphers: unknown cipher suite %q (want one of %s)", a.text, strings.Join(cipherNames(), ", "))
		}
		if !slices.Contains(t.Ciphers, name) {
			t.Ciphers = append(t.Ciphers, name)
		}
	}
	return nil
}

// cipherNames are the suite names ciphers accepts.
func cipherNames() []string {
	var out []string
	for _, c := range tls.CipherSuites() {
		out = append(out, c.Name)
	}
	return out
}

// tlsCurveList parses "curves GROUP...".
func tlsCurveList(s *node, t *TLS) error {
	if err := s.argc(1, -1); err != nil {
		return err
	}
	if err := s.noBlock(); err != nil {
		return err
	}
	for _, a := range s.args[1:] {
		v, err := oneOf(s, token{text: strings.ToLower(a.text), pos: a.pos}, "curve", tlsCurves)
		if err != nil {
			return err
		}
		if !slices.Contains(t.Curves, v) {
			t.Curves = append(t.Curves, v)
		}
	}
	return nil
}

// clientAuth parses a client_auth block.
func (b *builder) clientAuth(n *node) (*ClientAuth, error) {
	if err := n.argc(0, 0); err != nil {
		return nil, err
	}
	ca := &ClientAuth{Pos: n.args[0].pos}
	var modePos, poolPos, caCertPos Pos
	for _, s := range n.block {
		var err error
		switch s.name() {
		case "mode":
			if modePos != (Pos{}) {
				return nil, errorf(s.args[0].pos, "mode is set twice (first at %s)", modePos)
			}
			modePos = s.args[0].pos
			if err = s.simple(1); err == nil {
				ca.Mode, err = oneOf(s, s.arg(0), "mode", clientAuthModes)
			}
		case "trusted_ca_cert", "trusted_ca_cert_file":
			if poolPos != (Pos{}) {
				return nil, errorf(s.args[0].pos, "%s: the trust_pool at %s already names the CAs (use one or the other, as Caddy requires)", s.name(), poolPos)
			}
			if caCertPos == (Pos{}) {
				caCertPos = s.args[0].pos
			}
			ca.TrustedCAs, err = b.certArgs(s, ca.TrustedCAs, s.name() == "trusted_ca_cert_file")
		case "trusted_leaf_cert", "trusted_leaf_cert_file":
			ca.TrustedLeaves, err = b.certArgs(s, ca.TrustedLeaves, s.name() == "trusted_leaf_cert_file")
		case "trust_pool":
			if caCertPos != (Pos{}) {
				return nil, errorf(s.args[0].pos, "trust_pool: trusted_ca_cert at %s already names the CAs (use one or the other, as Caddy requires)", caCertPos)
			}
			if poolPos != (Pos{}) {
				return nil, errorf(s.args[0].pos, "trust_pool is set twice (first at %s)", poolPos)
			}
			poolPos = s.args[0].pos
			ca.TrustedCAs, err = b.trustPool(s, ca.TrustedCAs)
		case "verifier":
			err = errorf(s.args[0].pos, "client_auth: verifier modules are not supported (trusted_leaf_cert_file pins client certificates)")
		default:
			err = unknown(s, "client_auth option", []string{"mode", "trusted_ca_cert", "trusted_ca_cert_file", "trusted_leaf_cert", "trusted_leaf_cert_file", "trust_pool"}, nil, "")
		}
		if err != nil {
			return nil, err
		}
	}
	trusted := len(ca.TrustedCAs) > 0 || len(ca.TrustedLeaves) > 0
	switch {
	case ca.Mode == "" && trusted:
		ca.Mode = "require_and_verify" // Caddy's default with trusted certificates
	case ca.Mode == "":
		ca.Mode = "require"
	case ca.Verifies() && !trusted:
		return nil, errorf(modePos, "client_auth: mode %s needs trusted certificates to verify against (trusted_ca_cert_file, trusted_leaf_cert_file or trust_pool)", ca.Mode)
	case !ca.Verifies() && trusted:
		b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: modePos, Msg: fmt.Sprintf("client_auth: mode %s verifies nothing: the trusted certificates only name the acceptable CAs to the client (use verify_if_given or require_and_verify)", ca.Mode)})
	}
	return ca, nil
}

// certArgs reads the certificates of "NAME VALUE" (one base64 DER
// certificate, or a PEM file of one or more) onto certs.
func (b *builder) certArgs(s *node, certs []Certificate, file bool) ([]Certificate, error) {
	if err := s.simple(1); err != nil {
		return certs, err
	}
	if file {
		return b.pemCerts(s, s.arg(0), certs)
	}
	return derCert(s, s.arg(0), certs)
}

// trustPool parses Caddy's trust_pool with its file and inline providers.
func (b *builder) trustPool(s *node, certs []Certificate) ([]Certificate, error) {
	if err := s.argc(1, -1); err != nil {
		return certs, err
	}
	var err error
	switch s.arg(0).text {
	case "file":
		for _, a := range s.args[2:] {
			if certs, err = b.pemCerts(s, a, certs); err != nil {
				return certs, err
			}
		}
		for _, o := range s.block {
			if o.name() != "pem_file" {
				return certs, unknown(o, "trust_pool file option", []string{"pem_file"}, nil, "")
			}
			if err := o.argc(1, -1); err != nil {
				return certs, err
			}
			if err := o.noBlock(); err != nil {
				return certs, err
			}
			for _, a := range o.args[1:] {
				if certs, err = b.pemCerts(o, a, certs); err != nil {
					return certs, err
				}
			}
		}
	case "inline":
		if err := s.argc(1, 1); err != nil {
			return certs, err
		}
		for _, o := range s.block {
			if o.name() != "trust_der" {
				return certs, unknown(o, "trust_pool inline option", []string{"trust_der"}, nil, "")
			}
			if err := o.simple(1); err != nil {
				return certs, err
			}
			if certs, err = derCert(o, o.arg(0), certs); err != nil {
				return certs, err
			}
		}
	default:
		return certs, errorf(s.arg(0).pos, "trust_pool: provider %q is not supported (want file or inline)", s.arg(0).text)
	}
	if len(certs) == 0 {
		return certs, errorf(s.args[0].pos, "trust_pool %s: no certificate given", s.arg(0).text)
	}
	return certs, nil
}

// derCert parses one base64 DER certificate (Caddy's inline form).
func derCert(s *node, t token, certs []Certificate) ([]Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(t.text)
	if err != nil {
		return certs, errorf(t.pos, "%s: not base64 DER: %v", s.name(), err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return certs, errorf(t.pos, "%s: not a certificate: %v", s.name(), err)
	}
	return addCert(certs, Certificate{DER: der, Subject: c.Subject.String(), Pos: t.pos}), nil
}

// addCert appends c to certs unless a certificate with its DER is there.
func addCert(certs []Certificate, c Certificate) []Certificate {
	for _, o := range certs {
		if bytes.Equal(o.DER, c.DER) {
			return certs
		}
	}
	return append(certs, c)
}

// maxPEMFile bounds a certificate file: a CA bundle of the whole Web PKI
// is about 250 KB.
const maxPEMFile = 4 << 20

// pemCerts reads every certificate of the PEM file t names.
func (b *builder) pemCerts(s *node, t token, certs []Certificate) ([]Certificate, error) {
	if t.text == "" {
		return certs, errorf(t.pos, "%s: empty file name", s.name())
	}
	data, err := b.opts.ReadFile(t.text)
	if err != nil {
		return certs, errorf(t.pos, "%s: %w", s.name(), err)
	}
	if len(data) > maxPEMFile {
		return certs, errorf(t.pos, "%s: %s is larger than %d bytes", s.name(), t.text, maxPEMFile)
	}
	n := 0
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return certs, errorf(t.pos, "%s: %s holds a %s, not only certificates", s.name(), t.text, blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return certs, errorf(t.pos, "%s: certificate %d of %s: %v", s.name(), n+1, t.text, err)
		}
		certs = addCert(certs, Certificate{DER: blk.Bytes, Subject: c.Subject.String(), File: t.text, Pos: t.pos})
		n++
	}
	if n == 0 {
		return certs, errorf(t.pos, "%s: %s holds no PEM certificate", s.name(), t.text)
	}
	return certs, nil
}

// checkTLSSettings reports combinations of the handshake settings that
// cannot work, and warns about settings that do nothing.
func (b *builder) checkTLSSettings(t *TLS, n *node) error {
	if t.ProtocolMin == "" && len(t.Ciphers) == 0 && len(t.Curves) == 0 {
		return nil
	}
	with12 := t.ProtocolMin != "tls1.3"
	if len(t.Ciphers) > 0 {
		var tls12 []string
		for _, c := range t.Ciphers {
			if !isTLS13Suite(c) {
				tls12 = append(tls12, c)
			}
		}
		pos := settingPos(n, "ciphers")
		switch {
		case !with12:
			b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: pos, Msg: "ciphers: protocols tls1.3 allows TLS 1.3 only, whose cipher suites are not configurable: the list does nothing"})
		case len(tls12) == 0:
			return errorf(pos, "ciphers: no TLS 1.2 suite is listed (TLS 1.3 suites are always on and not configurable), so no TLS 1.2 client could connect: add one or set protocols tls1.3")
		case !slices.ContainsFunc(tls12, http2Suite):
			return errorf(pos, "ciphers: HTTP/2 over TLS 1.2 needs an ECDHE suite with AES-GCM or ChaCha20 (RFC 9113 §9.2.2), such as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
		}
	}
	if len(t.Curves) > 0 && with12 && !slices.ContainsFunc(t.Curves, func(c string) bool { return !slices.Contains(tls13OnlyCurves, c) }) {
		return errorf(settingPos(n, "curves"), "curves: %s works with TLS 1.3 only, so no TLS 1.2 client could connect: add x25519 or secp256r1, or set protocols tls1.3", strings.Join(t.Curves, ", "))
	}
	return nil
}

// settingPos is the position of the option name in tls block n.
func settingPos(n *node, name string) Pos {
	for _, s := range n.block {
		if s.name() == name {
			return s.args[0].pos
		}
	}
	return n.args[0].pos
}

func isTLS13Suite(name string) bool {
	for _, c := range tls.CipherSuites() {
		if c.Name == name {
			return slices.Equal(c.SupportedVersions, []uint16{tls.VersionTLS13})
		}
	}
	return false
}

// http2Suite reports whether a TLS 1.2 suite is one HTTP/2 accepts: ECDHE
// key exchange and an AEAD cipher.
func http2Suite(name string) bool {
	return strings.HasPrefix(name, "TLS_ECDHE_") && (strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20"))
}

// Fingerprint is the SHA-256 of c's DER, in hex.
func (c Certificate) Fingerprint() string {
	sum := sha256.Sum256(c.DER)
	return fmt.Sprintf("%x", sum)
}

// tlsOnHTTPS reports handshake settings on a site that serves no https
// address: there is no handshake for them to apply to.
func (b *builder) tlsOnHTTPS(s *Site) error {
	t := s.TLS
	if t == nil || t.ProtocolMin == "" && len(t.Ciphers) == 0 && len(t.Curves) == 0 && t.ClientAuth == nil {
		return nil
	}
	for _, a := range s.Addresses {
		if a.Scheme == "https" || a.Scheme == "" && (a.Port == 0 || a.Port != b.cfg.Global.HTTPPort) {
			return nil
		}
	}
	return errorf(t.Pos, "tls: protocols, ciphers, curves and client_auth apply to https addresses, and the site has none")
}

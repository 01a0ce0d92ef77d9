package config

import (
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// mod_ssl's handshake settings, imported into the site's tls block:
//
//	SSLProtocol [+-]all|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3|SSLv3 ...  → protocols MIN MAX
//	SSLCipherSuite [SSL|TLSv1.3] OPENSSL-CIPHER-STRING           → ciphers GO-NAMES...
//	SSLVerifyClient none|optional|require|optional_no_ca          → client_auth { mode }
//	SSLCACertificateFile FILE, SSLCACertificatePath DIR           → trusted_ca_cert_file / trust_pool file
//
// What Tether cannot offer (TLS 1.0 and 1.1, suites Go does not implement,
// TLS 1.3 suite choice, a verify depth) is a warning at the directive.

// apProto is a set of protocol versions, as mod_ssl's ssl_proto_t.
type apProto uint8

const (
	apSSLv3 apProto = 1 << iota
	apTLS10
	apTLS11
	apTLS12
	apTLS13
	apProtoAll = apTLS10 | apTLS11 | apTLS12 | apTLS13 // httpd 2.4 with an OpenSSL without SSLv3
)

var apProtoNames = []struct {
	name string
	p    apProto
}{{"SSLv3", apSSLv3}, {"TLSv1", apTLS10}, {"TLSv1.1", apTLS11}, {"TLSv1.2", apTLS12}, {"TLSv1.3", apTLS13}, {"all", apProtoAll}}

// apSSLProtocol parses SSLProtocol's arguments as mod_ssl's
// ssl_cmd_protocol_parse does: a word without + or - sets the list, +
// adds, - removes; names are compared without case; an unknown one is an
// error (httpd does not start).
func (t *apTrans) apSSLProtocol(d *apDirective) (apProto, error) {
	if len(d.args) == 0 {
		return 0, errorf(d.pos, "SSLProtocol takes at least one protocol (httpd refuses it)")
	}
	var set apProto
	for _, a := range d.args {
		w := a.text
		action := byte(0)
		if w != "" && (w[0] == '+' || w[0] == '-') {
			action, w = w[0], w[1:]
		}
		var this apProto
		found := false
		for _, n := range apProtoNames {
			if strings.EqualFold(w, n.name) {
				this, found = n.p, true
			}
		}
		switch {
		case strings.EqualFold(w, "SSLv2"):
			if action == '-' {
				continue
			}
			return 0, errorf(a.pos, "SSLProtocol: SSLv2 is no longer supported (httpd refuses it)")
		case !found:
			return 0, errorf(a.pos, "SSLProtocol: Illegal protocol '%s' (httpd refuses it; want all, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 or SSLv3, with + or -)", w)
		}
		switch action {
		case '-':
			set &^= this
		case '+':
			set |= this
		default:
			if set != 0 {
				t.warn(a.pos, "SSLProtocol: Protocol '%s' overrides already set parameter(s) (as in httpd, which warns too: check if a +/- prefix is missing)", w)
			}
			set = this
		}
	}
	return set, nil
}

// apProtocolsLine is the protocols line of a protocol set, "" for Tether's
// default (TLS 1.2 and 1.3), with a warning for what Tether cannot offer.
func (t *apTrans) apProtocolsLine(set apProto, at Pos, args string) string {
	var old []string
	for _, n := range apProtoNames[:3] {
		if set&n.p != 0 {
			old = append(old, n.name)
		}
	}
	switch {
	case set&(apTLS12|apTLS13) == 0:
		t.warn(at, "SSLProtocol %s: httpd offers only %s, which Tether does not offer (it speaks TLS 1.2 and 1.3); the site keeps Tether's protocols, and clients that cannot do TLS 1.2 are refused", args, apJoinOr(old))
		return ""
	case len(old) > 0:
		t.warn(at, "SSLProtocol %s: httpd also offers %s; Tether offers TLS 1.2 and 1.3 only, so clients that cannot do TLS 1.2 are refused", args, strings.Join(old, " and "))
	}
	switch set & (apTLS12 | apTLS13) {
	case apTLS13:
		return "protocols tls1.3"
	case apTLS12:
		return "protocols tls1.2 tls1.2"
	}
	return ""
}

func apJoinOr(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// apSuite is one of Go's TLS 1.2 cipher suites with its OpenSSL name and
// the OpenSSL aliases that select it (ssl_ciph.c's cipher_aliases).
type apSuite struct {
	goName, openssl string
	tags            []string
}

// apSuites are the suites tls.CipherSuites() holds (the ones Tether
// offers), by their OpenSSL names and aliases.
var apSuites = func() []apSuite {
	type spec struct{ goName, openssl, kx, au, enc string }
	var out []apSuite
	for _, s := range []spec{
		{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE", "ECDSA", "AES128GCM"},
		{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE", "RSA", "AES128GCM"},
		{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE", "ECDSA", "AES256GCM"},
		{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE", "RSA", "AES256GCM"},
		{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE", "ECDSA", "CHACHA20"},
		{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE", "RSA", "CHACHA20"},
		{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", "ECDHE", "ECDSA", "AES128SHA"},
		{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", "ECDHE", "RSA", "AES128SHA"},
		{"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE", "ECDSA", "AES256SHA"},
		{"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", "ECDHE", "RSA", "AES256SHA"},
		{"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", "RSA", "RSA", "AES128GCM"},
		{"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384", "RSA", "RSA", "AES256GCM"},
		{"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA", "RSA", "RSA", "AES128SHA"},
		{"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA", "RSA", "RSA", "AES256SHA"},
	} {
		if !slices.Contains(cipherNames(), s.goName) {
			continue // not offered by this Go
		}
		tags := []string{"ALL", "DEFAULT", "HIGH"}
		switch s.kx {
		case "ECDHE":
			tags = append(tags, "kECDHE", "ECDHE", "EECDH", "kEECDH", "ECDH")
		case "RSA":
			tags = append(tags, "kRSA", "RSA")
		}
		switch s.au {
		case "ECDSA":
			tags = append(tags, "aECDSA", "ECDSA")
		case "RSA":
			tags = append(tags, "aRSA")
		}
		switch s.enc {
		case "AES128GCM":
			tags = append(tags, "AES", "AES128", "AESGCM", "AEAD", "TLSv1.2")
		case "AES256GCM":
			tags = append(tags, "AES", "AES256", "AESGCM", "AEAD", "TLSv1.2")
		case "CHACHA20":
			tags = append(tags, "CHACHA20", "AEAD", "TLSv1.2")
		case "AES128SHA":
			tags = append(tags, "AES", "AES128", "SHA1", "SHA", "TLSv1", "TLSv1.0", "SSLv3")
		case "AES256SHA":
			tags = append(tags, "AES", "AES256", "SHA1", "SHA", "TLSv1", "TLSv1.0", "SSLv3")
		}
		out = append(out, apSuite{goName: s.goName, openssl: s.openssl, tags: tags})
	}
	return out
}()

// apCipherAliases are OpenSSL's aliases that select none of the suites
// Tether offers (key exchanges, ciphers and digests Go does not use with
// TLS 1.2, or only in suites with known weaknesses).
var apCipherAliases = strings.Fields(`COMPLEMENTOFALL COMPLEMENTOFDEFAULT MEDIUM LOW EXP EXPORT EXPORT40 EXPORT56
	aNULL eNULL NULL kDHE kEDH EDH DHE DH ADH AECDH kECDH kECDHr kECDHe aECDH aDSS DSS aDH aGOST aGOST01 kGOST GOST94 GOST89MAC
	kPSK kECDHEPSK kDHEPSK kRSAPSK PSK aPSK SRP kSRP aSRP DES 3DES RC4 RC2 IDEA SEED MD5 SHA256 SHA384 CAMELLIA CAMELLIA128 CAMELLIA256
	ARIA ARIA128 ARIA256 ARIAGCM AESCCM AESCCM8 CHACHA20-POLY1305 SUITEB128 SUITEB128ONLY SUITEB128C2 SUITEB192 FIPS KRB5 kKRB5 aKRB5`)

// apOpenSSLSuiteName matches an OpenSSL suite name (DHE-RSA-AES256-SHA,
// DES-CBC3-SHA): one that Tether does not offer when no apSuite has it.
var apOpenSSLSuiteName = regexp.MustCompile(`^[A-Z0-9]+(-[A-Z0-9]+)+$`)

// apCipherSuite evaluates an OpenSSL cipher string over the suites Tether
// offers, as SSL_CTX_set_cipher_list does: elements separated by ':', ','
// or spaces; "A+B" selects what both select; a plain element adds its
// suites, "-" removes them, "!" removes them for good, "+" moves them to
// the end (order does not matter to Go, which picks its own); unknown
// names select nothing. It returns the Go names in Go's order, and the
// positive OpenSSL suite names Tether does not offer.
func apCipherSuite(spec string) (goNames, unsupported []string, tls13 bool) {
	in := map[string]bool{}
	banned := map[string]bool{}
	for el := range strings.FieldsFuncSeq(spec, func(r rune) bool { return r == ':' || r == ',' || r == ' ' || r == '\t' }) {
		op := byte(0)
		if el[0] == '!' || el[0] == '-' || el[0] == '+' {
			op, el = el[0], el[1:]
		}
		if el == "" || el[0] == '@' {
			continue // @STRENGTH, @SECLEVEL=n: ordering and policy, not a selection
		}
		if strings.HasPrefix(el, "TLS_") {
			if op == 0 {
				tls13 = true
			}
			continue
		}
		parts := strings.Split(el, "+")
		sel := func(s apSuite) bool {
			for _, p := range parts {
				if p != s.openssl && !slices.Contains(s.tags, p) {
					return false
				}
			}
			return true
		}
		if len(parts) == 1 && op != '!' && op != '-' && apOpenSSLSuiteName.MatchString(el) && !slices.ContainsFunc(apSuites, func(s apSuite) bool { return s.openssl == el }) &&
			!slices.Contains(apCipherAliases, el) {
			unsupported = append(unsupported, el)
		}
		for _, s := range apSuites {
			if !sel(s) {
				continue
			}
			switch op {
			case '!':
				banned[s.goName] = true
				delete(in, s.goName)
			case '-':
				delete(in, s.goName)
			case '+':
			default:
				if !banned[s.goName] {
					in[s.goName] = true
				}
			}
		}
	}
	for _, s := range apSuites {
		if in[s.goName] {
			goNames = append(goNames, s.goName)
		}
	}
	return goNames, slices.Compact(unsupported), tls13
}

// apCiphersLine is the ciphers line of an SSLCipherSuite, "" to keep
// Tether's suites, with warnings for what is not imported.
func (t *apTrans) apCiphersLine(c apCipherSpec, protos apProto) string {
	if c.spec == "" {
		return ""
	}
	names, unsupported, tls13 := apCipherSuite(c.spec)
	if len(unsupported) > 0 {
		t.warn(c.at, "SSLCipherSuite: %s: Tether does not offer %s (Go has no such suite, or only one with known weaknesses); the other suites are imported", strings.Join(unsupported, ", "), apPlural(len(unsupported), "it", "them"))
	}
	if tls13 {
		t.warn(c.at, "SSLCipherSuite: TLS 1.3 suites (TLS_*) are not configurable in Tether, which offers all three; ignored")
	}
	if protos&apTLS12 == 0 {
		if !c.inherited {
			t.warn(c.at, "SSLCipherSuite %s: the site speaks TLS 1.3 only, whose suites are not configurable; the list is not imported", c.spec)
		}
		return ""
	}
	switch {
	case len(names) == 0:
		t.warn(c.at, "SSLCipherSuite %s: selects none of the TLS 1.2 suites Tether offers (%s); not imported, the site keeps Tether's suites", c.spec, apSuiteNames())
		return ""
	case !slices.ContainsFunc(names, http2Suite):
		t.warn(c.at, "SSLCipherSuite %s: selects no ECDHE suite with AES-GCM or ChaCha20, which HTTP/2 over TLS 1.2 needs (Tether refuses such a list); not imported, the site keeps Tether's suites", c.spec)
		return ""
	case len(names) == len(apSuites):
		return "" // every suite Tether offers: its default
	}
	return "ciphers " + strings.Join(names, " ")
}

// apSuiteNames are the OpenSSL names of the suites Tether offers.
func apSuiteNames() string {
	var n []string
	for _, s := range apSuites {
		n = append(n, s.openssl)
	}
	return strings.Join(n, ":")
}

func apPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// apCipherSpec is an SSLCipherSuite for TLS 1.2 and below.
type apCipherSpec struct {
	spec      string
	at        Pos
	inherited bool // the main server's, in a virtual host
}

// sslCipherSuite reads SSLCipherSuite [protocol] cipher-spec.
func (t *apTrans) sslCipherSuite(s *apServer, d *apDirective) error {
	args := d.argTexts()
	switch {
	case len(args) == 1:
		s.ssl.ciphers = apCipherSpec{spec: args[0], at: d.pos}
	case len(args) == 2 && strings.EqualFold(args[0], "SSL"):
		s.ssl.ciphers = apCipherSpec{spec: args[1], at: d.pos}
	case len(args) == 2 && strings.EqualFold(args[0], "TLSv1.3"):
		t.warn(d.pos, "SSLCipherSuite TLSv1.3 %s: TLS 1.3 suites are not configurable in Tether, which offers all three; ignored", args[1])
	case len(args) == 2:
		return errorf(d.args[0].pos, "SSLCipherSuite: protocol not supported: %s (httpd refuses it; want SSL or TLSv1.3)", args[0])
	default:
		return errorf(d.pos, "SSLCipherSuite takes one or two arguments (httpd refuses it)")
	}
	return nil
}

// sslVerifyClient reads SSLVerifyClient; an unknown level is an error, as
// in httpd.
func (t *apTrans) sslVerifyClient(s *apServer, d *apDirective) error {
	args := d.argTexts()
	if len(args) != 1 {
		return errorf(d.pos, "SSLVerifyClient takes one argument (httpd refuses it)")
	}
	v := strings.ToLower(args[0])
	if !slices.Contains([]string{"none", "optional", "require", "optional_no_ca"}, v) {
		return errorf(d.args[0].pos, "SSLVerifyClient: Invalid argument '%s' (httpd refuses it; want none, optional, require or optional_no_ca)", args[0])
	}
	s.ssl.verify, s.ssl.verifyAt = v, d.pos
	return nil
}

// apCAPathFiles are the certificates OpenSSL finds in an
// SSLCACertificatePath: files named by subject hash (HASH.N, made by
// c_rehash or openssl rehash).
func (t *apTrans) apCAPathFiles(dir string) []string {
	names, _ := t.opts.Glob(filepath.Join(dir, "*"))
	var out []string
	for _, n := range names {
		if apHashName.MatchString(filepath.Base(n)) {
			out = append(out, n)
		}
	}
	return out
}

var apHashName = regexp.MustCompile(`^[0-9a-f]{8}\.[0-9]+$`)

// clientAuthLines are the client_auth block of a site's SSLVerifyClient,
// nil when it verifies no client; a verifying level without a CA is an
// error (httpd would refuse every client certificate).
func (t *apTrans) clientAuthLines(s *apServer) ([]string, error) {
	ssl := s.ssl
	switch ssl.verify {
	case "", "none":
		return nil, nil
	}
	var cas []string
	if ssl.ca != "" {
		cas = append(cas, ssl.ca)
	}
	if ssl.caPath != "" {
		files := t.apCAPathFiles(ssl.caPath)
		if len(files) == 0 {
			t.warn(ssl.caPathAt, "SSLCACertificatePath %s: no certificate named by its subject hash (HASH.0, made by c_rehash), which is what OpenSSL looks for; no CA from it", ssl.caPath)
		}
		cas = append(cas, files...)
	}
	mode := map[string]string{"optional": "verify_if_given", "require": "require_and_verify", "optional_no_ca": "request"}[ssl.verify]
	if len(cas) == 0 && ssl.verify != "optional_no_ca" {
		return nil, errorf(ssl.verifyAt, "SSLVerifyClient %s without SSLCACertificateFile or SSLCACertificatePath: no CA to verify client certificates against (httpd warns \"no CAs are known for verification\" and refuses every certificate); name the CA file", ssl.verify)
	}
	if ssl.verify == "optional_no_ca" {
		t.warn(ssl.verifyAt, "SSLVerifyClient optional_no_ca: Tether asks for a certificate and does not verify it (client_auth mode request); a certificate it did not verify is not forwarded to members, where mod_ssl would hand it on with SSL_CLIENT_VERIFY other than SUCCESS")
		cas = nil // request mode: the CAs would only be named to the client
	}
	switch {
	case ssl.depthSet && len(cas) > 0:
		t.warn(ssl.depthAt, "SSLVerifyDepth %d: Tether verifies chains of any length up to a trusted CA (Go has no depth limit)", ssl.depth)
	case len(cas) > 0:
		t.warn(ssl.verifyAt, "SSLVerifyClient %s: httpd's default SSLVerifyDepth 1 accepts only certificates a trusted CA signed directly; Tether verifies chains of any length up to a trusted CA (a client may send intermediates)", ssl.verify)
	}
	lines := []string{"client_auth {", "mode " + mode}
	switch {
	case len(cas) == 1:
		lines = append(lines, "trusted_ca_cert_file "+quoteToken(cas[0]))
	case len(cas) > 1:
		q := make([]string, len(cas))
		for i, c := range cas {
			q[i] = quoteToken(c)
		}
		lines = append(lines, "trust_pool file "+strings.Join(q, " "))
	}
	return append(lines, "}"), nil
}

// tlsSettings are the lines of the site's tls block (protocols, ciphers,
// client_auth) and the position each comes from.
func (t *apTrans) tlsSettings(s *apServer) ([]apBlock, error) {
	var out []apBlock
	protos := apTLS12 | apTLS13 // what the site will offer
	if s.ssl.protocolSet {
		if l := t.apProtocolsLine(s.ssl.protocols, s.ssl.protocolAt, s.ssl.protocolArgs); l != "" {
			out = append(out, apBlock{lines: []string{l}, at: s.ssl.protocolAt})
			protos = s.ssl.protocols & (apTLS12 | apTLS13)
		}
	}
	if l := t.apCiphersLine(s.ssl.ciphers, protos); l != "" {
		out = append(out, apBlock{lines: []string{l}, at: s.ssl.ciphers.at})
	}
	ca, err := t.clientAuthLines(s)
	if err != nil {
		return nil, err
	}
	if ca != nil {
		out = append(out, apBlock{lines: ca, at: s.ssl.verifyAt})
	}
	return out, nil
}

// sslDirective reads the mod_ssl directives of a server; it reports
// whether d was one.
func (t *apTrans) sslDirective(s *apServer, d *apDirective) (bool, error) {
	args := d.argTexts()
	switch strings.ToLower(d.name) {
	case "sslprotocol":
		p, err := t.apSSLProtocol(d)
		if err != nil {
			return true, err
		}
		s.ssl.protocols, s.ssl.protocolSet, s.ssl.protocolAt, s.ssl.protocolArgs = p, true, d.pos, strings.Join(args, " ")
	case "sslciphersuite":
		return true, t.sslCipherSuite(s, d)
	case "sslverifyclient":
		return true, t.sslVerifyClient(s, d)
	case "sslverifydepth":
		if len(args) != 1 {
			return true, errorf(d.pos, "SSLVerifyDepth takes one argument (httpd refuses it)")
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 {
			return true, errorf(d.args[0].pos, "SSLVerifyDepth: Invalid argument '%s' (httpd refuses it; want a number)", args[0])
		}
		s.ssl.depth, s.ssl.depthSet, s.ssl.depthAt = n, true, d.pos
	case "sslcacertificatefile":
		if len(args) != 1 {
			return true, errorf(d.pos, "SSLCACertificateFile takes one argument (httpd refuses it)")
		}
		s.ssl.ca, s.ssl.caAt = t.r.rootRelative(args[0]), d.pos
	case "sslcacertificatepath":
		if len(args) != 1 {
			return true, errorf(d.pos, "SSLCACertificatePath takes one argument (httpd refuses it)")
		}
		s.ssl.caPath, s.ssl.caPathAt = t.r.rootRelative(args[0]), d.pos
	case "sslhonorcipherorder":
		if len(args) == 1 && strings.EqualFold(args[0], "on") {
			t.warn(d.pos, "SSLHonorCipherOrder on: Go picks the suite itself (AES-GCM first where the CPU has AES instructions, else ChaCha20); the order of SSLCipherSuite is not kept")
		}
	default:
		return false, nil
	}
	return true, nil
}

// inheritSSL fills in the mod_ssl settings a virtual host does not set
// from the main server (httpd merges them so).
func inheritSSL(e *apServer, m *apServer) {
	if !e.ssl.protocolSet {
		e.ssl.protocols, e.ssl.protocolSet, e.ssl.protocolAt, e.ssl.protocolArgs = m.ssl.protocols, m.ssl.protocolSet, m.ssl.protocolAt, m.ssl.protocolArgs
	}
	if e.ssl.ciphers.spec == "" {
		e.ssl.ciphers = m.ssl.ciphers
		e.ssl.ciphers.inherited = e != m
	}
	if e.ssl.verify == "" {
		e.ssl.verify, e.ssl.verifyAt = m.ssl.verify, m.ssl.verifyAt
	}
	if !e.ssl.depthSet {
		e.ssl.depth, e.ssl.depthSet, e.ssl.depthAt = m.ssl.depth, m.ssl.depthSet, m.ssl.depthAt
	}
	if e.ssl.ca == "" {
		e.ssl.ca, e.ssl.caAt = m.ssl.ca, m.ssl.caAt
	}
	if e.ssl.caPath == "" {
		e.ssl.caPath, e.ssl.caPathAt = m.ssl.caPath, m.ssl.caPathAt
	}
}

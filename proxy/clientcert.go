package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tether-proxy/tether/proxy/ajp"
	"github.com/tether-proxy/tether/proxy/certs"
)

// Client certificates: what a request's client proved with one, and how
// that reaches members.
//
// A certificate comes from the client's own TLS handshake with Tether
// (tls { client_auth }), or, from a peer in the site's trusted_proxies,
// from the headers of an AWS ALB doing mutual TLS: X-Amzn-Mtls-Clientcert-Leaf
// (verify mode: the ALB verified it) or X-Amzn-Mtls-Clientcert (passthrough:
// the whole chain, unverified, which Tether verifies against the site's
// client_auth when it has one). From any other peer those headers are
// removed (clientHeaders) and never believed.
//
// It reaches AJP members as mod_jk sends it (ssl_cert, ssl_cipher,
// ssl_session, ssl_key_size: Tomcat's jakarta.servlet.request.X509Certificate
// and friends) when it was verified, HTTP members through the
// {http.request.tls.client.*} placeholders of header_up and, with
// client_cert_headers, as Apache's mod_ssl variables (SSL_CLIENT_CERT, ...).
// Request headers named like mod_ssl's variables (SSL_*) never pass from a
// client.

// handshakeConn is an accepted connection during and after its TLS
// handshake: the listener's config records in it the site settings the
// handshake was made with (certs.HandshakeRecorder), which ConnContext
// puts in the context of the connection's requests.
type handshakeConn struct {
	net.Conn
	conn *certs.Conn // set during the handshake, read after it (the listener hands the connection over a channel)
}

func (c *handshakeConn) RecordHandshake(cc *certs.Conn) { c.conn = cc }

var _ certs.HandshakeRecorder = (*handshakeConn)(nil)

type handshakeKey struct{}

// withConnContext is the listeners' ConnContext: the framing watcher of an
// HTTP/1.x connection and the handshake settings of a TLS one.
func withConnContext(ctx context.Context, c net.Conn) context.Context {
	ctx = withFramingConn(ctx, c)
	var tc *tls.Conn
	switch v := c.(type) {
	case *tls.Conn:
		tc = v
	case framingTLSConn:
		tc = v.tls
	}
	if tc != nil {
		if hc, ok := tc.NetConn().(*handshakeConn); ok && hc.conn != nil {
			ctx = context.WithValue(ctx, handshakeKey{}, hc.conn)
		}
	}
	return ctx
}

// handshakeOf is the settings r's TLS handshake was made with; the
// defaults when unknown.
func handshakeOf(r *http.Request) *certs.Conn {
	if c, ok := r.Context().Value(handshakeKey{}).(*certs.Conn); ok {
		return c
	}
	return certs.DefaultConn
}

// peerCert is the certificate a request's client presented.
type peerCert struct {
	chain    []*x509.Certificate // leaf first
	verified bool                // by the handshake, the ALB, or Tether against the site's client_auth
	alb      bool                // from a trusted ALB's headers, not this connection's handshake
}

func (p *peerCert) leaf() *x509.Certificate {
	if p == nil || len(p.chain) == 0 {
		return nil
	}
	return p.chain[0]
}

type forwardedCertKey struct{}

// clientCertOf is r's client certificate: a trusted ALB's (site entry put
// it in the context), else the one of r's own handshake; nil without one.
func clientCertOf(r *http.Request) *peerCert {
	if p, ok := r.Context().Value(forwardedCertKey{}).(*peerCert); ok {
		return p
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return &peerCert{chain: r.TLS.PeerCertificates, verified: handshakeOf(r).Verified(r.TLS)}
}

// The ALB's mutual TLS headers.
const (
	albChainHeader    = "X-Amzn-Mtls-Clientcert"      // passthrough: URL-encoded PEM chain, unverified
	albLeafHeader     = "X-Amzn-Mtls-Clientcert-Leaf" // verify mode: URL-encoded PEM leaf, verified
	albTLSVersion     = "X-Amzn-Tls-Version"
	albTLSCipherSuite = "X-Amzn-Tls-Cipher-Suite"
)

// albHeaders are the ALB's TLS headers: believed from trusted proxies only
// (clientHeaders lists them, so they are removed from anyone else's).
var albHeaders = []string{
	albChainHeader, albLeafHeader,
	"X-Amzn-Mtls-Clientcert-Serial-Number", "X-Amzn-Mtls-Clientcert-Issuer",
	"X-Amzn-Mtls-Clientcert-Subject", "X-Amzn-Mtls-Clientcert-Validity",
	albTLSVersion, albTLSCipherSuite,
}

// maxALBCerts bounds the chain a passthrough header may carry.
const maxALBCerts = 8

var errALBHeader = errors.New("not a URL-encoded PEM certificate")

// parseALBCerts decodes an ALB certificate header: PEM, URL-encoded with
// "+=/" left as they are, one or more CERTIFICATE blocks, leaf first.
func parseALBCerts(v string) ([]*x509.Certificate, error) {
	raw, err := url.PathUnescape(strings.TrimSpace(v))
	if err != nil {
		return nil, errALBHeader
	}
	var out []*x509.Certificate
	rest := []byte(raw)
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, errALBHeader
		}
		if len(out) == maxALBCerts {
			return nil, errors.New("too many certificates")
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 || strings.TrimSpace(string(rest)) != "" {
		return nil, errALBHeader
	}
	return out, nil
}

// hasALBCert reports whether h carries an ALB client certificate header.
func hasALBCert(h http.Header) bool {
	return len(h[albLeafHeader]) > 0 || len(h[albChainHeader]) > 0
}

// forwardedCert takes the client certificate of a trusted ALB's headers:
// verify mode's leaf as the ALB verified it, passthrough's chain verified
// here against the site's client_auth (a site that verifies nothing takes
// it as given, not verified). A certificate the site's verification
// refuses is the client's fault: 403, as its handshake would have failed.
// ok is false when the answer was written.
func (s *site) forwardedCert(w http.ResponseWriter, r *http.Request) (_ *http.Request, ok bool) {
	p := &peerCert{alb: true}
	var err error
	if v := r.Header.Get(albLeafHeader); v != "" {
		p.chain, err = parseALBCerts(v)
		p.verified = err == nil
	} else {
		p.chain, err = parseALBCerts(r.Header.Get(albChainHeader))
		if err == nil && s.conn.ClientAuth() != "" {
			if verr := s.conn.VerifyChain(p.chain, time.Now()); verr == nil {
				p.verified = true
			} else if errors.Is(verr, certs.ErrNotTrusted) && (s.conn.ClientAuth() == "verify_if_given" || s.conn.ClientAuth() == "require_and_verify") {
				refuse(w, r, http.StatusForbidden, "client certificate not trusted", false)
				return r, false
			}
		}
	}
	if err != nil {
		return r, true // a trusted proxy sent what no ALB sends: no certificate
	}
	return r.WithContext(context.WithValue(r.Context(), forwardedCertKey{}, p)), true
}

// connFacts are what Apache's SSL_PROTOCOL, SSL_CIPHER, SSL_SESSION_ID
// and the AJP attributes say about the client's TLS connection.
type connFacts struct {
	protocol string // "TLSv1.3"
	cipher   string // IANA name as Go spells it, or as the ALB sent it
	keyBits  int
	session  string // hex
}

// connFactsOf describes the client's TLS connection: r's own, or, when a
// trusted proxy terminated it (fromEdge), what the ALB said of it.
func connFactsOf(r *http.Request, fromEdge bool) (connFacts, bool) {
	if fromEdge {
		v, c := r.Header.Get(albTLSVersion), r.Header.Get(albTLSCipherSuite)
		if v == "" && c == "" {
			return connFacts{}, false
		}
		return connFacts{protocol: v, cipher: c, keyBits: keyBits(c)}, true
	}
	if r.TLS == nil {
		return connFacts{}, false
	}
	name := tls.CipherSuiteName(r.TLS.CipherSuite)
	return connFacts{protocol: jsseProtocol(r.TLS.Version), cipher: name, keyBits: keyBits(name), session: ajp.SessionID(r.TLS)}, true
}

// fromEdge reports whether a trusted proxy terminated the client's TLS
// (or had none): it says so with X-Forwarded-Proto, and then r's own TLS
// connection, if any, is the proxy's.
func fromEdge(r *http.Request, t *trustedProxies) bool {
	if !t.contains(r.RemoteAddr) {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))) {
	case "http", "https":
		return true
	}
	return hasALBCert(r.Header)
}

func jsseProtocol(v uint16) string {
	switch v {
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return ""
}

// keyBits is the symmetric key size of a cipher suite, from its IANA or
// OpenSSL name.
func keyBits(suite string) int {
	s := strings.ToUpper(strings.ReplaceAll(suite, "_", ""))
	switch {
	case strings.Contains(s, "AES128"):
		return 128
	case strings.Contains(s, "AES256"), strings.Contains(s, "CHACHA20"):
		return 256
	}
	return 0
}

// openSSLNames are OpenSSL's names of the TLS 1.2 suites Go offers, which
// Apache's SSL_CIPHER gives (TLS 1.3's names are the same in both).
var openSSLNames = map[string]string{
	"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256":       "ECDHE-ECDSA-AES128-GCM-SHA256",
	"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384":       "ECDHE-ECDSA-AES256-GCM-SHA384",
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
	"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256":         "ECDHE-RSA-AES128-GCM-SHA256",
	"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384":         "ECDHE-RSA-AES256-GCM-SHA384",
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256":   "ECDHE-RSA-CHACHA20-POLY1305",
	"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA":          "ECDHE-ECDSA-AES128-SHA",
	"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA":          "ECDHE-ECDSA-AES256-SHA",
	"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA":            "ECDHE-RSA-AES128-SHA",
	"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA":            "ECDHE-RSA-AES256-SHA",
}

// withAJPClientInfo gives the AJP transport the client's address and
// whether the client side was TLS (directly, or per a trusted proxy's
// X-Forwarded-Proto), so Tomcat's request.isSecure() and getRemoteAddr()
// are right, and the client's certificate when it was verified, so
// request.getAttribute("jakarta.servlet.request.X509Certificate") is.
func withAJPClientInfo(r *http.Request, t *trustedProxies) *http.Request {
	trusted := t.contains(r.RemoteAddr)
	ci := ajp.ClientInfoFromRequest(r, trusted)
	edge := trusted && fromEdge(r, t)
	pc := clientCertOf(r)
	switch {
	case pc != nil && pc.alb:
		ci.TLS = true // the ALB did mutual TLS with the client
		if f, ok := connFactsOf(r, true); ok {
			ci.TLSProtocol, ci.CipherSuite, ci.KeySize = f.protocol, f.cipher, f.keyBits
		}
		ci.CertPEM = ""
		if pc.verified {
			ci.CertPEM = ajp.CertsPEM(pc.chain)
		}
	case edge:
		ci.CertPEM = "" // the trusted proxy's own certificate, if any
	case pc != nil && pc.verified:
		ci.CertPEM = ajp.CertsPEM(pc.chain) // verified by pins (ClientInfoFromRequest took CA-verified ones)
	default:
		ci.CertPEM = ""
	}
	return r.WithContext(ajp.WithClientInfo(r.Context(), ci))
}

// setApacheCertHeaders sets, on a request to an HTTP member, what Apache's
// mod_ssl exports and Apache configs forward with RequestHeader (and
// Tomcat's SSLValve reads): SSL_CLIENT_VERIFY (SUCCESS, GENEROUS for a
// certificate given but not verified, NONE), SSL_CLIENT_CERT (PEM, line
// breaks as spaces, as mod_headers sends it), SSL_CLIENT_S_DN and
// SSL_CLIENT_I_DN (RFC 2253), SSL_CLIENT_M_SERIAL (hex), SSL_CLIENT_V_START
// and SSL_CLIENT_V_END, SSL_PROTOCOL, SSL_CIPHER (OpenSSL's name),
// SSL_CIPHER_USEKEYSIZE and SSL_SESSION_ID. Nothing without TLS on the
// client's side.
func setApacheCertHeaders(h http.Header, in *http.Request, t *trustedProxies) {
	edge := fromEdge(in, t)
	f, isTLS := connFactsOf(in, edge)
	pc := clientCertOf(in)
	if edge && pc != nil && !pc.alb {
		pc = nil // the trusted proxy's own certificate
	}
	if !isTLS && pc == nil {
		if !edge || !strings.EqualFold(strings.TrimSpace(in.Header.Get("X-Forwarded-Proto")), "https") {
			return
		}
	}
	if f.protocol != "" {
		h["SSL_PROTOCOL"] = []string{f.protocol}
	}
	if f.cipher != "" {
		c := f.cipher
		if o, ok := openSSLNames[c]; ok {
			c = o
		}
		h["SSL_CIPHER"] = []string{c}
	}
	if f.keyBits > 0 {
		h["SSL_CIPHER_USEKEYSIZE"] = []string{strconv.Itoa(f.keyBits)}
	}
	if f.session != "" {
		h["SSL_SESSION_ID"] = []string{f.session}
	}
	leaf := pc.leaf()
	if leaf == nil {
		h["SSL_CLIENT_VERIFY"] = []string{"NONE"}
		return
	}
	verify := "GENEROUS"
	if pc.verified {
		verify = "SUCCESS"
	}
	h["SSL_CLIENT_VERIFY"] = []string{verify}
	h["SSL_CLIENT_CERT"] = []string{strings.TrimSpace(strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})), "\n", " "))}
	h["SSL_CLIENT_S_DN"] = []string{leaf.Subject.String()}
	h["SSL_CLIENT_I_DN"] = []string{leaf.Issuer.String()}
	h["SSL_CLIENT_M_SERIAL"] = []string{strings.ToUpper(leaf.SerialNumber.Text(16))}
	h["SSL_CLIENT_V_START"] = []string{opensslTime(leaf.NotBefore)}
	h["SSL_CLIENT_V_END"] = []string{opensslTime(leaf.NotAfter)}
}

// opensslTime formats t as OpenSSL's ASN1_TIME_print does
// ("Nov 13 16:44:34 2126 GMT"), as mod_ssl's SSL_CLIENT_V_* are.
func opensslTime(t time.Time) string { return t.UTC().Format("Jan _2 15:04:05 2006 GMT") }

// dropSSLHeaders removes request headers named like mod_ssl's variables
// (SSL_CLIENT_CERT, ssl-cipher, ...) and Tomcat SSLValve's
// (ssl_client_escaped_cert): a member behind Apache, or Tomcat's SSLValve,
// believes them, so they never pass from a client, trusted or not.
func dropSSLHeaders(h http.Header) {
	for k := range h {
		if len(k) > 4 && (k[0]|0x20) == 's' && (k[1]|0x20) == 's' && (k[2]|0x20) == 'l' && (k[3] == '_' || k[3] == '-') {
			delete(h, k)
		}
	}
}

// tlsField appends the value of the {http.request.tls.FIELD} placeholder
// (Caddy's) for r: its TLS connection, and its client certificate (also one
// a trusted ALB forwarded). Empty when r has none.
func tlsField(b []byte, r *http.Request, field string) []byte {
	if rest, ok := strings.CutPrefix(field, "client."); ok {
		leaf := clientCertOf(r).leaf()
		if leaf == nil {
			return b
		}
		return certField(b, leaf, rest)
	}
	cs := r.TLS
	if cs == nil {
		return b
	}
	switch field {
	case "version":
		switch cs.Version {
		case tls.VersionTLS12:
			return append(b, "tls1.2"...)
		case tls.VersionTLS13:
			return append(b, "tls1.3"...)
		}
	case "cipher_suite":
		return append(b, tls.CipherSuiteName(cs.CipherSuite)...)
	case "resumed":
		return strconv.AppendBool(b, cs.DidResume)
	case "proto":
		return append(b, cs.NegotiatedProtocol...)
	case "proto_mutual":
		return append(b, "true"...)
	case "server_name":
		return append(b, cs.ServerName...)
	case "ech":
		return strconv.AppendBool(b, cs.ECHAccepted)
	}
	return b
}

// certField appends a client.FIELD of Caddy's TLS placeholders.
func certField(b []byte, c *x509.Certificate, field string) []byte {
	switch field {
	case "fingerprint":
		sum := sha256.Sum256(c.Raw)
		return hex.AppendEncode(b, sum[:])
	case "public_key", "public_key_sha256":
		der, err := x509.MarshalPKIXPublicKey(c.PublicKey)
		if err != nil {
			return b
		}
		if field == "public_key_sha256" {
			sum := sha256.Sum256(der)
			return hex.AppendEncode(b, sum[:])
		}
		return hex.AppendEncode(b, der)
	case "issuer":
		return append(b, c.Issuer.String()...)
	case "subject":
		return append(b, c.Subject.String()...)
	case "serial":
		return c.SerialNumber.Append(b, 10)
	case "certificate_pem":
		return append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	case "certificate_der_base64":
		return base64.StdEncoding.AppendEncode(b, c.Raw)
	}
	list, idx, hasIdx := field, 0, false
	if i := strings.LastIndexByte(field, '.'); i > 0 && strings.Count(field, ".") == 2 {
		n, err := strconv.Atoi(field[i+1:])
		if err != nil {
			return b
		}
		list, idx, hasIdx = field[:i], n, true
	}
	var vals []string
	switch list {
	case "san.dns_names":
		vals = c.DNSNames
	case "san.emails":
		vals = c.EmailAddresses
	case "san.ips":
		for _, ip := range c.IPAddresses {
			vals = append(vals, ip.String())
		}
	case "san.uris":
		for _, u := range c.URIs {
			vals = append(vals, u.String())
		}
	}
	if hasIdx {
		if idx < len(vals) {
			return append(b, vals[idx]...)
		}
		return b
	}
	return append(b, strings.Join(vals, ",")...)
}

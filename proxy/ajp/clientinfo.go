package ajp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// ClientInfo is what Tomcat learns about the client from the forward-request
// packet rather than from headers: request.getRemoteAddr/Port/Host, and
// isSecure/getScheme plus the jakarta.servlet.request.* TLS attributes.
//
// The proxy attaches it to the outgoing request's context with
// WithClientInfo. Without one, RoundTrip uses ClientInfoFromRequest(r, false),
// which reads only r.RemoteAddr and r.TLS and never trusts headers.
type ClientInfo struct {
	// Addr is the client's IP address (remote_addr). Empty sends an empty string.
	Addr string
	// Port is the client's TCP port, sent as request attribute AJP_REMOTE_PORT
	// (request.getRemotePort). 0 omits it.
	Port int
	// Host is the client's host name (remote_host). Empty sends Addr, as
	// httpd does with HostnameLookups off.
	Host string
	// TLS sets is_ssl: Tomcat then reports scheme https and isSecure() true.
	// Set it when the client connection to the proxy was TLS, or when a
	// trusted edge (an ELB) says so with X-Forwarded-Proto: https.
	TLS bool
	// TLSProtocol is the JSSE protocol name ("TLSv1.3"), sent as request
	// attribute AJP_SSL_PROTOCOL. Empty omits it. Only sent when TLS is set.
	TLSProtocol string
	// CipherSuite is the cipher suite name ("TLS_AES_128_GCM_SHA256"), sent as
	// ssl_cipher. Empty omits it. Only sent when TLS is set.
	CipherSuite string
	// KeySize is the cipher's key size in bits, sent as ssl_key_size. 0 omits it.
	KeySize int
	// SessionID is the TLS session id in hex, sent as ssl_session. Empty omits it.
	SessionID string
	// CertPEM is the client certificate chain in PEM, sent as ssl_cert
	// (request attribute jakarta.servlet.request.X509Certificate). Empty omits it.
	CertPEM string
	// ServerPort is the port the client connected to (server_port). 0 takes
	// the port of the Host header, else 443 with TLS and 80 without.
	ServerPort int
}

type clientInfoKey struct{}

// WithClientInfo returns a context that carries ci to RoundTrip.
func WithClientInfo(ctx context.Context, ci ClientInfo) context.Context {
	return context.WithValue(ctx, clientInfoKey{}, ci)
}

// ClientInfoFrom returns the ClientInfo attached by WithClientInfo.
func ClientInfoFrom(ctx context.Context) (ClientInfo, bool) {
	ci, ok := ctx.Value(clientInfoKey{}).(ClientInfo)
	return ci, ok
}

// ClientInfoFromRequest derives ClientInfo from an incoming request: the
// address and port from r.RemoteAddr, the TLS fields from r.TLS. The
// client certificate is sent only when the handshake verified it (Tomcat's
// CLIENT-CERT authentication believes ssl_cert); SessionID is a keying
// material export of the connection (Go does not expose TLS session ids,
// and TLS 1.3 has none), the same for every request of the connection.
//
// With trustForwarded (the immediate peer is a trusted edge such as an ELB;
// deciding that is the caller's job), the forwarded headers win:
// the last X-Forwarded-For entry (the one the edge appended) becomes Addr with
// Port 0, X-Forwarded-Proto "https" or "http" sets TLS (the TLS details are
// then dropped: they describe the edge's connection, not the client's), and
// X-Forwarded-Port sets ServerPort.
func ClientInfoFromRequest(r *http.Request, trustForwarded bool) ClientInfo {
	var ci ClientInfo
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ci.Addr = host
		ci.Port, _ = strconv.Atoi(port)
	} else {
		ci.Addr = r.RemoteAddr
	}
	if cs := r.TLS; cs != nil {
		ci.TLS = true
		ci.TLSProtocol = tlsProtocolName(cs.Version)
		ci.CipherSuite = tls.CipherSuiteName(cs.CipherSuite)
		ci.KeySize = cipherKeySize(ci.CipherSuite)
		ci.SessionID = SessionID(cs)
		if len(cs.VerifiedChains) > 0 {
			ci.CertPEM = CertsPEM(cs.PeerCertificates)
		}
	}
	if !trustForwarded {
		return ci
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		last := xff[len(xff)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if a := strings.TrimSpace(last); a != "" {
			ci.Addr, ci.Port, ci.Host = a, 0, ""
		}
	}
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))) {
	case "https":
		ci = ClientInfo{Addr: ci.Addr, Port: ci.Port, Host: ci.Host, TLS: true}
	case "http":
		ci = ClientInfo{Addr: ci.Addr, Port: ci.Port, Host: ci.Host}
	}
	if p, err := strconv.Atoi(strings.TrimSpace(r.Header.Get("X-Forwarded-Port"))); err == nil && p > 0 && p < 65536 {
		ci.ServerPort = p
	}
	return ci
}

// tlsProtocolName returns the JSSE name of a TLS version, as Tomcat reports it.
func tlsProtocolName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return ""
}

// cipherKeySize returns the symmetric key size of a cipher suite, from its name.
func cipherKeySize(suite string) int {
	switch {
	case strings.Contains(suite, "AES_128"):
		return 128
	case strings.Contains(suite, "AES_256"), strings.Contains(suite, "CHACHA20"):
		return 256
	case strings.Contains(suite, "3DES"):
		return 168
	}
	return 0
}

// CertsPEM encodes certs as consecutive PEM blocks, as ssl_cert carries a
// chain (leaf first).
func CertsPEM(certs []*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) // a strings.Builder never fails
	}
	return b.String()
}

// sessionLabel is the RFC 5705 exporter label of SessionID.
const sessionLabel = "EXPORTER-tether-ssl-session"

// SessionID identifies cs's connection in hex, as mod_ssl's SSL_SESSION_ID
// does: 32 bytes exported from its keys, which reveal nothing of them.
// "" when the connection cannot export (TLS 1.2 without Extended Master
// Secret).
func SessionID(cs *tls.ConnectionState) (id string) {
	if cs == nil {
		return ""
	}
	// A ConnectionState made by hand (a test's, a fake server's) has no
	// exporter, and calling it panics.
	defer func() {
		if recover() != nil {
			id = ""
		}
	}()
	k, err := cs.ExportKeyingMaterial(sessionLabel, nil, 32)
	if err != nil {
		return ""
	}
	return hex.EncodeToString(k)
}

// Package ajp is Tether's AJP13 client: an http.RoundTripper that forwards
// requests to Tomcat's AJP connector, as mod_jk and mod_proxy_ajp do. It owns
// the wire protocol, the per-backend connection pool, CPing/CPong health
// probes and the shared secret; it does not choose backends, rewrite cookies,
// retry on other backends or log (the proxy does).
//
// Standard library only (scripts/lint.sh enforces it). It follows Tomcat's
// AJP connector (org.apache.coyote.ajp) and the ajpv13a protocol notes; the
// package's tests and cmd/tether's TestTomcatThroughTether and
// TestModJKSideBySide check it against a real Tomcat 10.1 and mod_jk.
//
// # Use
//
//	tr, err := ajp.New(ajp.Config{Secret: secret, ReplyTimeout: 30 * time.Second})
//	rp := &httputil.ReverseProxy{
//		Rewrite: func(pr *httputil.ProxyRequest) {
//			pr.SetURL(&url.URL{Scheme: "ajp", Host: "10.0.1.10:8009"})
//			pr.Out.Host = pr.In.Host // Tomcat sees the client's Host, as with mod_jk
//		},
//		Transport:     tr,
//		FlushInterval: -1, // body chunks reach the client as Tomcat flushes them
//	}
//
// # Client address and TLS
//
// Tomcat takes request.getRemoteAddr, getRemotePort and isSecure from the
// forward-request packet, not from headers. The proxy attaches a ClientInfo
// to the request context with WithClientInfo; ClientInfoFromRequest builds
// one from the incoming request, and with trustForwarded (the peer is a
// trusted edge such as an ELB) it takes the client from X-Forwarded-For and
// the TLS flag from X-Forwarded-Proto. Without a ClientInfo in the context,
// RoundTrip uses r.RemoteAddr and r.TLS only and never trusts headers.
// ClientInfo.TLS sets is_ssl, so Tomcat reports scheme https and
// isSecure() true; the cipher, key size, protocol, session id and client
// certificate go in the SSL attributes (ssl_cipher, ssl_key_size,
// AJP_SSL_PROTOCOL, ssl_session, ssl_cert), which Tomcat gives the webapp
// as jakarta.servlet.request.cipher_suite, key_size, ssl_session_id and
// X509Certificate. ClientInfoFromRequest sends a certificate only when the
// handshake verified it (Tomcat's CLIENT-CERT authentication believes it),
// and the session id is a keying material export of the connection.
//
// # Wire format, as sent
//
// FORWARD_REQUEST: method by code (OPTIONS 1 … MKACTIVITY 27); other methods,
// such as PATCH, as method byte 0xFF plus attribute 0x0D (stored method) —
// Tomcat's SC_A_STORED_METHOD; 0x0E is not an attribute code. Protocol,
// escaped path, remote_addr, remote_host, server_name and server_port from
// the Host header, is_ssl. Headers: Host first, then "content-length" (also
// "0" for a request without a body, as mod_jk does, so Tomcat does not pull
// a body of unknown length), then the request's headers by code where AJP
// has one; Transfer-Encoding and a Content-Length header are not forwarded.
// Attributes: query string (0x05), AJP_REMOTE_PORT, the SSL attributes, the
// secret (0x0C), the stored method, then 0xFF. All of it must fit one packet:
// otherwise RoundTrip returns ErrHeadersTooLarge without sending anything.
//
// Body: with a known Content-Length the first chunk is sent right after the
// forward request; the rest (and all of a body of unknown length) only when
// Tomcat asks with GET_BODY_CHUNK, with the empty packet once it is used up.
//
// # Errors
//
// Errors matching ErrNotSent never reached the backend (retry anywhere).
// ErrReplyTimeout (also a net.Error timeout) means the backend went silent
// for Config.ReplyTimeout: a slow application, or Tomcat failing a response
// whose headers do not fit one packet, which it does without a word. A
// *ProtocolError is a backend breaking AJP13. ErrRefused is Tomcat's AJP
// connector refusing the request (a wrong or missing secret: a short 403,
// then the connection closed); an application's own 403 is a response.
//
// # Concurrency
//
// A Transport is safe for concurrent use. Each connection carries one request
// at a time; a response body owns its connection until it is read to the end
// (END_RESPONSE) or closed. Idle connections are closed after
// Config.IdleTimeout by a timer per backend; no goroutine runs in the
// background.
package ajp

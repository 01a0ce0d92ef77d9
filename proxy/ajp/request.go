package ajp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrHeadersTooLarge is returned (wrapped) by RoundTrip when the request line,
// headers and attributes do not fit one AJP packet. AJP13 has no continuation
// packets for them; mod_jk answers 413 in this case. Nothing was sent and no
// connection was used; the error does not match ErrNotSent because another
// backend with the same packet size would refuse it too.
var ErrHeadersTooLarge = errors.New("ajp: request headers too large for one packet")

// skippedRequestHeaders are sent from other fields of the request, or not at all.
var skippedRequestHeaders = map[string]bool{
	"Host":              true, // from r.Host
	"Content-Length":    true, // from r.ContentLength; a duplicate makes Tomcat answer 400
	"Transfer-Encoding": true, // the body travels in AJP body packets, never chunk-encoded
}

// encodeForwardRequest appends the FORWARD_REQUEST packet for r to buf[:0].
// bodyLen is what the body amounts to on the wire: >0 a known length, 0 no
// body, -1 a body of unknown length that Tomcat pulls until the empty packet.
func encodeForwardRequest(buf []byte, max int, r *http.Request, ci ClientInfo, secret string) (pkt []byte, bodyLen int64, err error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	bodyLen = -1
	switch {
	case r.ContentLength > 0:
		bodyLen = r.ContentLength
	case r.Body == nil || r.Body == http.NoBody:
		bodyLen = 0
	}

	host := r.Host
	if host == "" && r.URL != nil {
		host = r.URL.Host
	}
	serverName, serverPort := host, 0
	if h, p, err := net.SplitHostPort(host); err == nil {
		serverName = h
		serverPort, _ = strconv.Atoi(p)
	}
	if ci.ServerPort > 0 {
		serverPort = ci.ServerPort
	}
	if serverPort <= 0 || serverPort > 65535 {
		serverPort = 80
		if ci.TLS {
			serverPort = 443
		}
	}

	w := newPacketWriter(buf, max)
	w.byte(typeForwardRequest)
	code, coded := methodCodes[method]
	if !coded {
		code = methodStored
	}
	w.byte(code)
	proto := r.Proto
	if !strings.HasPrefix(proto, "HTTP/") {
		proto = "HTTP/1.1"
	}
	w.string(proto)
	w.string(requestURI(r))
	w.string(ci.Addr)
	if ci.Host != "" {
		w.string(ci.Host)
	} else {
		w.string(ci.Addr)
	}
	w.string(serverName)
	w.int(serverPort)
	w.bool(ci.TLS)

	// Headers: Host and Content-Length first, then the rest in a stable order.
	keys := make([]string, 0, len(r.Header))
	count := 0
	for k, vs := range r.Header {
		if skippedRequestHeaders[http.CanonicalHeaderKey(k)] {
			continue
		}
		keys = append(keys, k)
		count += len(vs)
	}
	slices.Sort(keys)
	if host != "" {
		count++
	}
	if bodyLen >= 0 {
		count++
	}
	if count > 0xFFFF {
		return nil, 0, fmt.Errorf("%w: %d header fields", ErrHeadersTooLarge, count)
	}
	w.int(count)
	if host != "" {
		w.int(int(requestHeaderCodes["host"]))
		w.string(host)
	}
	if bodyLen >= 0 {
		// Like mod_jk, say "content-length: 0" for a body-less request: without
		// it Tomcat treats the length as unknown and pulls a body with
		// GET_BODY_CHUNK as soon as the application reads the input stream.
		w.int(int(requestHeaderCodes["content-length"]))
		w.string(strconv.FormatInt(bodyLen, 10))
	}
	for _, k := range keys {
		hc, hcoded := requestHeaderCodes[strings.ToLower(k)]
		for _, v := range r.Header[k] {
			if hcoded {
				w.int(int(hc))
			} else {
				if len(k) >= headerCodeMark<<8 {
					w.full = true
				}
				w.string(k)
			}
			w.string(v)
		}
	}

	// Attributes.
	if q := r.URL.RawQuery; q != "" || r.URL.ForceQuery {
		w.byte(attrQueryString)
		w.string(q)
	}
	if ci.Port > 0 {
		w.byte(attrReqAttribute)
		w.string("AJP_REMOTE_PORT")
		w.string(strconv.Itoa(ci.Port))
	}
	if ci.TLS {
		if ci.CertPEM != "" {
			w.byte(attrSSLCert)
			w.string(ci.CertPEM)
		}
		if ci.CipherSuite != "" {
			w.byte(attrSSLCipher)
			w.string(ci.CipherSuite)
		}
		if ci.SessionID != "" {
			w.byte(attrSSLSession)
			w.string(ci.SessionID)
		}
		if ci.KeySize > 0 && ci.KeySize <= 0xFFFF {
			w.byte(attrSSLKeySize)
			w.int(ci.KeySize)
		}
		if ci.TLSProtocol != "" {
			w.byte(attrReqAttribute)
			w.string("AJP_SSL_PROTOCOL")
			w.string(ci.TLSProtocol)
		}
	}
	if secret != "" {
		w.byte(attrSecret)
		w.string(secret)
	}
	if !coded {
		w.byte(attrStoredMethod)
		w.string(method)
	}
	w.byte(attrAreDone)

	pkt, ok := w.finish()
	if !ok {
		return nil, 0, fmt.Errorf("%w: request line, headers and attributes need %d bytes; packet size is %d",
			ErrHeadersTooLarge, len(w.buf), max)
	}
	return pkt, bodyLen, nil
}

// requestURI is the path Tomcat sees: escaped as the client sent it (Tomcat
// decodes and normalizes it), without the query, which travels as an attribute.
func requestURI(r *http.Request) string {
	if r.URL == nil {
		return "/"
	}
	p := r.URL.EscapedPath()
	if r.URL.Opaque != "" {
		p = r.URL.Opaque
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		if strings.HasPrefix(p, "//") { // "//host/path" form
			if i := strings.IndexByte(p[2:], '/'); i >= 0 {
				p = p[2+i:]
			} else {
				p = "/"
			}
		}
	}
	if p == "" {
		p = "/"
	}
	return p
}

// requestBody feeds the request body to Tomcat in body packets, as Tomcat
// pulls it. It is used by one goroutine at a time: RoundTrip, then the
// response body's Read.
type requestBody struct {
	req       *http.Request
	body      io.ReadCloser // nil when there is none
	length    int64         // >0 known, 0 none, -1 unknown
	remaining int64         // bytes still to send when the length is known
	eof       bool          // the end was reached (or there is no body)
	touched   bool          // bytes were read from body: it cannot be resent as is
	closeOnce *sync.Once    // the body may be closed by Close of the response while read
}

func newRequestBody(r *http.Request, length int64) *requestBody {
	b := &requestBody{req: r, length: length, remaining: length, closeOnce: new(sync.Once)}
	if r.Body != nil && r.Body != http.NoBody {
		b.body = r.Body
	}
	if length == 0 {
		b.eof = true
	}
	return b
}

// rewind makes the body resendable from the start on a new connection, if it can be.
func (b *requestBody) rewind() bool {
	if !b.touched {
		return true
	}
	if b.req.GetBody == nil || b.length == 0 {
		return false
	}
	nb, err := b.req.GetBody()
	if err != nil {
		return false
	}
	b.close()
	b.body, b.closeOnce, b.touched, b.eof, b.remaining = nb, new(sync.Once), false, false, b.length
	return true
}

// read fills p (at most len(p) bytes) with the next part of the body; n == 0
// with a nil error means the body is exhausted.
func (b *requestBody) read(p []byte) (int, error) {
	if b.eof || b.body == nil {
		b.eof = true
		return 0, nil
	}
	b.touched = true
	if b.length > 0 {
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		if len(p) == 0 {
			b.eof = true
			return 0, nil
		}
		n, err := io.ReadFull(b.body, p)
		b.remaining -= int64(n)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return n, fmt.Errorf("ajp: request body ended %d bytes short of its Content-Length", b.remaining)
			}
			return n, fmt.Errorf("ajp: read request body: %w", err)
		}
		if b.remaining == 0 {
			b.eof = true
		}
		return n, nil
	}
	for range 100 { // io.Reader allows (0, nil); do not spin forever on one
		n, err := b.body.Read(p)
		if errors.Is(err, io.EOF) {
			b.eof = true
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("ajp: read request body: %w", err)
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("ajp: read request body: %w", io.ErrNoProgress)
}

func (b *requestBody) close() {
	if b.body != nil {
		body := b.body
		b.closeOnce.Do(func() { body.Close() })
	}
}

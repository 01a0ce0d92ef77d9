package config

import (
	"slices"
	"strconv"
	"strings"
)

// Template is a value with Caddy's request placeholders ({host}{uri}),
// split into literal text and placeholders; the proxy fills them in per
// request.
type Template struct {
	Parts []TemplatePart
	Raw   string
}

// TemplatePart is literal text (Var "") or a placeholder: Var is one of
// "uri", "path", "query", "host", "hostport", "scheme", "method",
// "remote_host", "remote_port", "upstream_hostport", "err.status_code",
// "err.status_text", "err.message", "err.id", "err.trace", "port",
// "remote", "client_ip", "query" with Arg (one query parameter), "header"
// with Arg (one request header), "cookie" with Arg (one cookie) and "tls"
// with Arg (a field of the client's TLS connection: "version",
// "client.subject", ...; see TLSFields), "rp.status_code",
// "rp.status_text" and "rp.header" with Arg (the member's answer that a
// handle_response block handles).
type TemplatePart struct {
	Lit string
	Var string
	Arg string
}

// placeholderNames maps the spellings Caddy users write to a Var.
var placeholderNames = map[string]string{
	"uri": "uri", "http.request.uri": "uri",
	"path": "path", "http.request.uri.path": "path",
	"query": "query", "http.request.uri.query": "query",
	"host": "host", "http.request.host": "host",
	"hostport": "hostport", "http.request.hostport": "hostport",
	"scheme": "scheme", "http.request.scheme": "scheme",
	"method": "method", "http.request.method": "method",
	"remote_host": "remote_host", "http.request.remote.host": "remote_host",
	"remote_port": "remote_port", "http.request.remote.port": "remote_port",
	// Caddy's shorthands for {http.request.tls.*}.
	"tls_cipher": "tls.cipher_suite", "tls_version": "tls.version",
	"tls_client_fingerprint": "tls.client.fingerprint", "tls_client_issuer": "tls.client.issuer",
	"tls_client_serial": "tls.client.serial", "tls_client_subject": "tls.client.subject",
	"tls_client_certificate_pem":        "tls.client.certificate_pem",
	"tls_client_certificate_der_base64": "tls.client.certificate_der_base64",
	// The member a request goes to (header_up); empty elsewhere.
	"upstream_hostport": "upstream_hostport", "http.reverse_proxy.upstream.hostport": "upstream_hostport",
	// The error handle_errors answers; empty elsewhere. (Caddy's trace,
	// the code location, is always empty.)
	"err.status_code": "err.status_code", "http.error.status_code": "err.status_code",
	"err.status_text": "err.status_text", "http.error.status_text": "err.status_text",
	"err.message": "err.message", "http.error.message": "err.message",
	"err.id": "err.id", "http.error.id": "err.id",
	"err.trace": "err.trace", "http.error.trace": "err.trace",
	// The port the request was sent to (Host's, else the scheme's).
	"port": "port", "http.request.port": "port",
	// The client's host:port ({remote_host}:{remote_port}).
	"remote": "remote", "http.request.remote": "remote",
	// The client's address as trusted_proxies lets Tether believe it.
	"client_ip": "client_ip", "http.vars.client_ip": "client_ip",
	// The member's answer a handle_response block handles (Caddy's
	// {rp.*}); empty elsewhere. status_text is the status line's text
	// after the code ("502 Bad Gateway").
	"rp.status_code": "rp.status_code", "http.reverse_proxy.status_code": "rp.status_code",
	"rp.status_text": "rp.status_text", "http.reverse_proxy.status_text": "rp.status_text",
}

// longNames are the long spellings of the placeholders, as Caddy's
// Caddyfile adapter writes them ({path} is {http.request.uri.path}).
var longNames = map[string]string{
	"uri": "http.request.uri", "path": "http.request.uri.path", "query": "http.request.uri.query",
	"host": "http.request.host", "hostport": "http.request.hostport", "scheme": "http.request.scheme",
	"method": "http.request.method", "remote_host": "http.request.remote.host", "remote_port": "http.request.remote.port",
	"upstream_hostport": "http.reverse_proxy.upstream.hostport",
	"err.status_code":   "http.error.status_code", "err.status_text": "http.error.status_text",
	"err.message": "http.error.message", "err.id": "http.error.id", "err.trace": "http.error.trace",
	"port": "http.request.port", "remote": "http.request.remote", "client_ip": "http.vars.client_ip",
	"rp.status_code": "http.reverse_proxy.status_code", "rp.status_text": "http.reverse_proxy.status_text",
	"header": "http.request.header.", "cookie": "http.request.cookie.", "tls": "http.request.tls.",
	"rp.header": "http.reverse_proxy.header.",
}

// Long is the placeholder's name in its long form, without braces:
// "http.request.uri.path", "http.request.header.X-Id".
func (p TemplatePart) Long() string {
	if p.Var == "query" && p.Arg != "" {
		return "http.request.uri.query." + p.Arg
	}
	return longNames[p.Var] + p.Arg
}

// Static reports whether t has no placeholders.
func (t Template) Static() bool {
	for _, p := range t.Parts {
		if p.Var != "" {
			return false
		}
	}
	return true
}

// parseTemplate splits tok's text; \{ and \} are literal braces, and an
// unknown placeholder is an error at tok.
func parseTemplate(tok token) (Template, error) {
	s := tok.text
	t := Template{Raw: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.Parts = append(t.Parts, TemplatePart{Lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '}') {
			lit.WriteByte(s[i+1])
			i++
			continue
		}
		if c != '{' {
			lit.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			lit.WriteString(s[i:]) // a lone brace is text
			break
		}
		name := s[i+1 : i+end]
		if !placeholderLike(name) {
			lit.WriteByte(c) // JSON or other text in braces, as Caddy leaves it
			continue
		}
		p, ok := placeholder(name)
		if !ok {
			return t, errorf(tok.pos, "unknown placeholder {%s} (known: {host}, {hostport}, {uri}, {path}, {query}, {query.NAME}, {header.NAME}, {scheme}, {method}, {remote_host}, {remote_port}, {port}, {remote}, {client_ip}, {cookie.NAME}, {upstream_hostport} in header_up, {err.status_code}, {err.status_text}, {err.message}, {err.id} in handle_errors, {env.NAME}, {http.request.tls.*}, and their {http.request.*} and {http.error.*} spellings)", name)
		}
		flush()
		t.Parts = append(t.Parts, p)
		i += end
	}
	flush()
	return t, nil
}

// placeholderLike reports whether name could be a placeholder's, such as
// http.request.header.X-Id or query.q; text such as "\"a\":1" cannot.
func placeholderLike(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func placeholder(name string) (TemplatePart, bool) {
	if v, ok := placeholderNames[name]; ok {
		if f, ok := strings.CutPrefix(v, "tls."); ok {
			return TemplatePart{Var: "tls", Arg: f}, true
		}
		return TemplatePart{Var: v}, true
	}
	if f, ok := strings.CutPrefix(name, "http.request.tls."); ok {
		f = strings.ToLower(f)
		return TemplatePart{Var: "tls", Arg: f}, IsTLSField(f)
	}
	for _, pre := range []struct{ prefix, v string }{
		{"query.", "query."}, {"http.request.uri.query.", "query."},
		{"header.", "header."}, {"http.request.header.", "header."},
		{"cookie.", "cookie."}, {"http.request.cookie.", "cookie."},
		{"rp.header.", "rp.header."}, {"http.reverse_proxy.header.", "rp.header."},
	} {
		if arg, ok := strings.CutPrefix(name, pre.prefix); ok && arg != "" {
			return TemplatePart{Var: strings.TrimSuffix(pre.v, "."), Arg: arg}, true
		}
	}
	return TemplatePart{}, false
}

// TLSFields are the fields of {http.request.tls.FIELD} (Caddy's): the
// connection's, then the client certificate's. The client.san.* lists
// also take an index (client.san.dns_names.0).
var TLSFields = []string{
	"version", "cipher_suite", "resumed", "proto", "proto_mutual", "server_name", "ech",
	"client.fingerprint", "client.public_key", "client.public_key_sha256", "client.issuer",
	"client.serial", "client.subject", "client.certificate_pem", "client.certificate_der_base64",
	"client.san.dns_names", "client.san.emails", "client.san.ips", "client.san.uris",
}

// IsTLSField reports whether f is one of TLSFields, or a client.san.*
// list with an index.
func IsTLSField(f string) bool {
	if slices.Contains(TLSFields, f) {
		return true
	}
	i := strings.LastIndexByte(f, '.')
	if i < 0 || !strings.HasPrefix(f, "client.san.") || !slices.Contains(TLSFields, f[:i]) {
		return false
	}
	n, err := strconv.Atoi(f[i+1:])
	return err == nil && n >= 0 && f[i+1] != '+'
}

// Uses reports whether t has the placeholder v.
func (t *Template) Uses(v string) bool {
	if t == nil {
		return false
	}
	for _, p := range t.Parts {
		if p.Var == v {
			return true
		}
	}
	return false
}

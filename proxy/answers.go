package proxy

import (
	"html"
	"net"
	"net/http"
	"strconv"

	"github.com/tether-proxy/tether/config"
)

// expand fills t's placeholders in from r; upstream is the member's
// host:port for {upstream_hostport} ("" outside header_up).
func expand(t *config.Template, r *http.Request, upstream string) string {
	if len(t.Parts) == 1 && t.Parts[0].Var == "" {
		return t.Parts[0].Lit
	}
	var b []byte
	for i := range t.Parts {
		p := &t.Parts[i]
		switch p.Var {
		case "":
			b = append(b, p.Lit...)
		case "uri":
			b = append(b, r.URL.RequestURI()...)
		case "path":
			b = append(b, r.URL.Path...)
		case "query":
			if p.Arg != "" {
				b = append(b, r.URL.Query().Get(p.Arg)...)
			} else {
				b = append(b, r.URL.RawQuery...)
			}
		case "header":
			b = append(b, r.Header.Get(p.Arg)...)
		case "host":
			b = append(b, hostOnly(r.Host)...)
		case "hostport":
			b = append(b, r.Host...)
		case "scheme":
			if r.TLS != nil {
				b = append(b, "https"...)
			} else {
				b = append(b, "http"...)
			}
		case "method":
			b = append(b, r.Method...)
		case "upstream_hostport":
			b = append(b, upstream...)
		case "tls":
			b = tlsField(b, r, p.Arg)
		case "err.status_code", "err.status_text", "err.message", "err.id", "err.trace":
			b = append(b, errPlaceholder(r, p.Var)...)
		case "port":
			b = append(b, requestPort(r)...)
		case "remote":
			b = append(b, r.RemoteAddr...)
		case "client_ip":
			t, _ := r.Context().Value(trustedKey{}).(*trustedProxies)
			b = append(b, clientHost(r, t)...)
		case "cookie":
			if c, err := r.Cookie(p.Arg); err == nil {
				b = append(b, c.Value...)
			}
		case "rp.status_code", "rp.status_text", "rp.header":
			resp := interceptedOf(r)
			switch {
			case resp == nil:
			case p.Var == "rp.status_code":
				b = strconv.AppendInt(b, int64(resp.StatusCode), 10)
			case p.Var == "rp.status_text":
				b = append(b, resp.Status...)
			default:
				b = append(b, joinValues(resp.Header.Values(p.Arg))...)
			}
		case "remote_host", "remote_port":
			host, port, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			if p.Var == "remote_port" {
				host = port
			}
			b = append(b, host...)
		}
	}
	return string(b)
}

// requestPort is the port a request was sent to: the Host's, else the
// scheme's default.
func requestPort(r *http.Request) string {
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		return port
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// trustedKey holds a site's trusted proxies in the context of its
// requests when one of its values uses {client_ip} (usesClientIP).
type trustedKey struct{}

// usesClientIP reports whether any value of the site's routes, balancers
// or error routes uses the {client_ip} placeholder.
func usesClientIP(sc *config.Site) bool {
	for _, b := range sc.Balancers {
		for _, ops := range [][]config.HeaderOp{b.HeaderUp, b.HeaderDown} {
			for i := range ops {
				if ops[i].Template.Uses("client_ip") {
					return true
				}
			}
		}
	}
	if routesUse(sc.Routes, "client_ip") {
		return true
	}
	for _, er := range sc.ErrorRoutes {
		if routesUse(er.Routes, "client_ip") {
			return true
		}
	}
	return false
}

func routesUse(routes []*config.Route, v string) bool {
	for _, r := range routes {
		var ts []*config.Template
		for _, h := range []*config.Header{r.Header, r.RequestHeader} {
			if h != nil {
				for i := range h.Ops {
					ts = append(ts, h.Ops[i].Template)
				}
			}
		}
		if r.Redirect != nil {
			ts = append(ts, &r.Redirect.To)
		}
		if r.Respond != nil {
			ts = append(ts, &r.Respond.Body)
		}
		if r.Rewrite != nil {
			ts = append(ts, r.Rewrite.To)
		}
		if r.Error != nil {
			ts = append(ts, &r.Error.Message)
		}
		if r.TryFiles != nil {
			for i := range r.TryFiles.Files {
				ts = append(ts, &r.TryFiles.Files[i].Path, r.TryFiles.Files[i].Query)
			}
		}
		for _, t := range ts {
			if t.Uses(v) {
				return true
			}
		}
		if routesUse(r.Routes, v) {
			return true
		}
	}
	return false
}

// redirect is a compiled redir.
type redirect struct {
	cfg *config.Redirect
}

// respondAnswer is a compiled respond.
type respondAnswer struct {
	cfg *config.Respond
}

func (d *redirect) answer(w http.ResponseWriter, r *http.Request) {
	to := expand(&d.cfg.To, r, "")
	if d.cfg.HTML {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		esc := html.EscapeString(to)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><head><title>Redirecting…</title><meta http-equiv=\"refresh\" content=\"0; URL='" + esc + "'\"></head>" +
			"<body>Redirecting to <a href=\"" + esc + "\">" + esc + "</a>…</body></html>\n"))
		return
	}
	w.Header().Set("Location", to)
	w.WriteHeader(d.cfg.Code)
}

func (d *respondAnswer) answer(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if d.cfg.Close {
		h.Set("Connection", "close")
	}
	body := ""
	if len(d.cfg.Body.Parts) > 0 {
		body = expand(&d.cfg.Body, r, "")
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	status := d.cfg.Status
	if status == 0 {
		status = http.StatusOK
		if e := errorOf(r); e != nil {
			status = e.status // Caddy's respond in handle_errors keeps the error's status
		}
	}
	w.WriteHeader(status)
	if body != "" && r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}

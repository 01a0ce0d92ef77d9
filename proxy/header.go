package proxy

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/tether-proxy/tether/config"
)

// headerOps are a site's `header` directives, compiled: the operations
// applied before the request is handled, and those applied to the
// answer's header as it is written.
type headerOps struct {
	now, deferred []headerOp
}

type headerOp struct {
	op             string // set, add, delete, default, replace
	field          string // canonical; for a wildcard delete, without the *
	prefix, suffix bool   // wildcard delete: Field* or *Field
	value          string
	tmpl           *config.Template // value's placeholders; nil: value as it is
	find, replace  string
}

func newHeaderOps(hs []*config.Header) *headerOps {
	if len(hs) == 0 {
		return nil
	}
	ops := &headerOps{}
	for _, h := range hs {
		for _, o := range h.Ops {
			if c := compileHeaderOp(o); o.Deferred {
				ops.deferred = append(ops.deferred, c)
			} else {
				ops.now = append(ops.now, c)
			}
		}
	}
	return ops
}

func compileHeaderOp(o config.HeaderOp) headerOp {
	c := headerOp{op: o.Op, value: o.Value, tmpl: o.Template, find: o.Find, replace: o.Replace}
	f := o.Field
	c.prefix, c.suffix = strings.HasSuffix(f, "*"), strings.HasPrefix(f, "*")
	c.field = textproto.CanonicalMIMEHeaderKey(strings.Trim(f, "*"))
	if c.prefix || c.suffix {
		c.field = strings.ToLower(strings.Trim(f, "*"))
	}
	return c
}

func compileHeaderOps(os []config.HeaderOp) []headerOp {
	var out []headerOp
	for _, o := range os {
		out = append(out, compileHeaderOp(o))
	}
	return out
}

// lineBreaks turns the line breaks of a header value into spaces.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// valueFor is the operation's value for request r.
func (o *headerOp) valueFor(r *http.Request, upstream string) string {
	if o.tmpl == nil || r == nil {
		return o.value
	}
	v := expand(o.tmpl, r, upstream)
	if strings.ContainsAny(v, "\r\n") {
		// A PEM certificate ({http.request.tls.client.certificate_pem}):
		// a header value cannot hold line breaks, so they become spaces,
		// as Apache's mod_headers sends SSL_CLIENT_CERT.
		v = lineBreaks.Replace(v)
	}
	return v
}

// apply performs the operation on h, filling placeholders in from r (the
// request being answered or sent) and upstream (the member's host:port).
func (o *headerOp) apply(h http.Header, r *http.Request, upstream string) {
	switch o.op {
	case "set":
		h[o.field] = []string{o.valueFor(r, upstream)}
	case "add":
		h[o.field] = append(h[o.field], o.valueFor(r, upstream))
	case "default":
		if len(h[o.field]) == 0 {
			h[o.field] = []string{o.valueFor(r, upstream)}
		}
	case "replace":
		for i, v := range h[o.field] {
			h[o.field][i] = strings.ReplaceAll(v, o.find, o.replace)
		}
	case "delete":
		if !o.prefix && !o.suffix {
			delete(h, o.field)
			return
		}
		for k := range h {
			lk := strings.ToLower(k)
			if o.prefix && strings.HasPrefix(lk, o.field) || o.suffix && strings.HasSuffix(lk, o.field) {
				delete(h, k)
			}
		}
	}
}

// begin applies the immediate operations to w's header and, when there
// are deferred ones, wraps w so that they apply as the header is written.
func (o *headerOps) begin(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	h := w.Header()
	for i := range o.now {
		o.now[i].apply(h, r, "")
	}
	if len(o.deferred) == 0 {
		return w
	}
	return &headerWriter{ResponseWriter: w, ops: o.deferred, r: r}
}

// headerWriter applies deferred header operations once, to the final
// answer's header (not to 1xx interim answers).
type headerWriter struct {
	http.ResponseWriter
	ops  []headerOp
	r    *http.Request
	done bool
}

func (w *headerWriter) WriteHeader(code int) {
	if !w.done && code >= 200 {
		w.done = true
		h := w.Header()
		for i := range w.ops {
			w.ops[i].apply(h, w.r, "")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *headerWriter) FlushError() error {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *headerWriter) Flush() { _ = w.FlushError() }

func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

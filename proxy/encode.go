package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/tether-proxy/tether/config"
)

// encoder is a site's `encode`: it compresses the answers the client
// accepts compressed, with Caddy's rules: only compressible content types
// (or the answers its match block matches, by status and header fields),
// only answers of at least minimum_length bytes (or of unknown length),
// never an answer a member already encoded, never a range or an upgrade;
// Vary: Accept-Encoding on the answers it compresses and on 304s (as
// Caddy: an answer too short to compress is the same whatever the client
// accepts); a strong ETag made weak. Flushes pass through, so server-sent events and chunked
// answers stream as they do uncompressed.
type encoder struct {
	formats []*encodeFormat // in the config's order of preference
	minLen  int64
	// match is Caddy's match block: the answers to compress, in place of
	// compressible content types; nil: those.
	match *respMatcher
}

// encodeFormat is one encoding and a pool of its compressors.
type encodeFormat struct {
	name string
	pool sync.Pool // of compressor
}

// compressor is a pooled gzip or zstd writer.
type compressor interface {
	io.WriteCloser
	Reset(io.Writer)
	Flush() error
}

// zstdWindow bounds a pooled zstd encoder's memory; it costs a little
// ratio on answers larger than the window only.
const zstdWindow = 512 << 10

func newEncoder(c *config.Encode) *encoder {
	e := &encoder{minLen: c.MinimumLength, match: compileRespMatcher(c.Match)}
	for _, f := range c.Formats {
		ef := &encodeFormat{name: f.Name}
		switch f.Name {
		case "gzip":
			level := f.Level
			if level == 0 {
				level = 5
			}
			ef.pool.New = func() any {
				w, _ := gzip.NewWriterLevel(io.Discard, level) // level is validated by config
				return compressor(w)
			}
		case "zstd":
			level := [...]zstd.EncoderLevel{zstd.SpeedDefault, zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression}[f.Level]
			ef.pool.New = func() any {
				w, _ := zstd.NewWriter(io.Discard, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
				return compressor(w)
			}
		}
		e.formats = append(e.formats, ef)
	}
	return e
}

// choose returns the format for r's Accept-Encoding: the highest q-value
// among the formats offered, ties to the config's order; nil when the
// client accepts none (or the request is one encode leaves alone).
func (e *encoder) choose(r *http.Request) *encodeFormat {
	ae := r.Header.Get("Accept-Encoding")
	if ae == "" || r.Method == http.MethodHead || r.Header.Get("Range") != "" || r.Header.Get("Upgrade") != "" {
		return nil
	}
	var best *encodeFormat
	bestQ, starQ := -1.0, -1.0
	for part := range strings.SplitSeq(ae, ",") {
		name, q := acceptToken(part)
		if name == "*" {
			starQ = q
			continue
		}
		for _, f := range e.formats {
			if f.name == name && (q > bestQ || q == bestQ && best != nil && e.rank(f) < e.rank(best)) {
				best, bestQ = f, q
			}
		}
	}
	if best == nil && starQ > 0 {
		return e.formats[0]
	}
	if bestQ <= 0 {
		return nil
	}
	return best
}

func (e *encoder) rank(f *encodeFormat) int {
	for i, g := range e.formats {
		if g == f {
			return i
		}
	}
	return len(e.formats)
}

// acceptToken parses one Accept-Encoding element, "gzip;q=0.8": the name
// in lower case and its q-value (1 without one, 0 for a bad one).
func acceptToken(s string) (string, float64) {
	name, params, _ := strings.Cut(s, ";")
	name = strings.ToLower(strings.TrimSpace(name))
	q := 1.0
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				f = 0
			}
			q = f
		}
	}
	return name, q
}

// compressible reports whether an answer of this Content-Type is worth
// compressing: text, and the textual or uncompressed binary application
// types (what Caddy's default match lists).
func compressible(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(ct))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	if strings.HasPrefix(ct, "text/") {
		return true
	}
	switch ct {
	case "application/json", "application/javascript", "application/x-javascript", "application/ecmascript",
		"application/xml", "application/xhtml+xml", "application/atom+xml", "application/rss+xml",
		"application/ld+json", "application/geo+json", "application/manifest+json", "application/vnd.api+json",
		"application/graphql+json", "application/problem+json", "application/x-ndjson",
		"application/wasm", "application/x-protobuf", "application/vnd.ms-fontobject",
		"application/x-font-ttf", "application/x-font-opentype", "font/ttf", "font/otf",
		"image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon", "image/bmp":
		return true
	}
	return strings.HasSuffix(ct, "+json") || strings.HasSuffix(ct, "+xml")
}

// wants reports whether an answer with this status and header is one to
// compress: the match block's, else a compressible Content-Type.
func (e *encoder) wants(code int, h http.Header) bool {
	if e.match != nil {
		return e.match.match(code, h)
	}
	return compressible(h.Get("Content-Type"))
}

// begin wraps w when r accepts one of the formats; call finish on the
// result (a nil *encodeWriter when it did not wrap, which finish allows).
func (e *encoder) begin(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *encodeWriter) {
	f := e.choose(r)
	if f == nil {
		return w, nil
	}
	ew := &encodeWriter{ResponseWriter: w, e: e, f: f}
	return ew, ew
}

// encodeWriter decides at the answer's header whether to compress it: at
// once when its length is known, else after minimum_length bytes or at
// the first flush.
type encodeWriter struct {
	http.ResponseWriter
	e *encoder
	f *encodeFormat

	status  int
	state   uint8 // encodeUndecided, encodePlain, encodeCompress
	headers bool  // WriteHeader was called (the final one)
	buf     []byte
	cw      compressor
}

const (
	encodeUndecided uint8 = iota
	encodePlain
	encodeCompress
)

func (w *encodeWriter) WriteHeader(code int) {
	if w.headers {
		return
	}
	if code >= 100 && code < 200 {
		w.ResponseWriter.WriteHeader(code) // 103 Early Hints, 101: not the final answer
		return
	}
	w.headers, w.status = true, code
	h := w.Header()
	if code == http.StatusNotModified {
		// RFC 9110 15.4.5: a 304 carries the Vary the 200 would have.
		addVary(h)
	}
	eligible := h.Get("Content-Encoding") == "" && code != http.StatusNoContent && code != http.StatusNotModified &&
		code != http.StatusPartialContent && h.Get("Content-Range") == ""
	if eligible && h.Get("Content-Type") != "" && !w.e.wants(code, h) {
		eligible = false
	}
	if !eligible {
		w.plain()
		return
	}
	if h.Get("Content-Type") == "" {
		return // decided at the first Write, which sniffs the type as net/http would
	}
	w.decideByLength()
}

// decideByLength compresses an answer of known length of at least
// minimum_length at once, sends a shorter one plain, and leaves one of
// unknown length undecided.
func (w *encodeWriter) decideByLength() {
	h := w.Header()
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n < w.e.minLen {
			w.plain()
			return
		}
		w.compress()
	}
}

// plain sends the header as it is; the body passes through untouched.
func (w *encodeWriter) plain() {
	w.state = encodePlain
	w.ResponseWriter.WriteHeader(w.status)
	if len(w.buf) > 0 {
		w.ResponseWriter.Write(w.buf)
		w.buf = nil
	}
}

// compress sends the header for the encoded answer and starts the
// compressor, writing what was buffered through it.
func (w *encodeWriter) compress() {
	w.state = encodeCompress
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Accept-Ranges")
	h.Set("Content-Encoding", w.f.name)
	addVary(h)
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		h.Set("ETag", "W/"+et)
	}
	w.ResponseWriter.WriteHeader(w.status)
	w.cw = w.f.pool.Get().(compressor)
	w.cw.Reset(w.ResponseWriter)
	if len(w.buf) > 0 {
		w.cw.Write(w.buf)
		w.buf = nil
	}
}

// addVary adds Accept-Encoding to h's Vary unless it is there already.
func addVary(h http.Header) {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, "Accept-Encoding") {
				return
			}
		}
	}
	h.Add("Vary", "Accept-Encoding")
}

func (w *encodeWriter) Write(p []byte) (int, error) {
	if !w.headers {
		w.WriteHeader(http.StatusOK)
	}
	if w.state == encodeUndecided && w.Header().Get("Content-Type") == "" {
		ct := http.DetectContentType(p)
		w.Header().Set("Content-Type", ct)
		if !w.e.wants(w.status, w.Header()) {
			w.plain()
		} else {
			w.decideByLength()
		}
	}
	switch w.state {
	case encodePlain:
		return w.ResponseWriter.Write(p)
	case encodeCompress:
		return w.cw.Write(p)
	}
	w.buf = append(w.buf, p...)
	if int64(len(w.buf)) >= w.e.minLen {
		w.compress()
	}
	return len(p), nil
}

// FlushError sends what is written so far: an undecided answer is
// compressed from here on (a streaming answer is one worth compressing),
// the compressor's output is flushed, then the connection.
func (w *encodeWriter) FlushError() error {
	if !w.headers {
		w.WriteHeader(http.StatusOK)
	}
	if w.state == encodeUndecided {
		if w.Header().Get("Content-Type") == "" {
			w.plain()
		} else {
			w.compress()
		}
	}
	if w.cw != nil {
		if err := w.cw.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *encodeWriter) Flush() { _ = w.FlushError() }

// Hijack passes a connection upgrade through (encode leaves upgrades
// alone; see choose).
func (w *encodeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *encodeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish ends the answer: a short undecided one goes out plain, a
// compressed one is closed and its compressor returned to the pool.
func (w *encodeWriter) finish() {
	if w == nil {
		return
	}
	if !w.headers {
		if len(w.buf) == 0 {
			return // nothing written: net/http sends its own 200
		}
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case encodeUndecided:
		w.plain()
	case encodeCompress:
		w.cw.Close()
		w.cw.Reset(io.Discard)
		w.f.pool.Put(w.cw)
		w.cw = nil
	}
}

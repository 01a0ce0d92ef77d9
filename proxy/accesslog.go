package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
)

// accessLogger writes one line per request of a site: a zerolog event
// (JSON, or human-readable with format console) or Apache's combined format
// for teams whose log tooling expects it. It never logs cookies or session
// ids: path parameters (;jsessionid=...) are cut from the logged path.
//
// A client cannot forge lines: the path is logged as it was sent (a %0A
// stays %0A), combined escapes every field as Apache does (appendLogItem),
// zerolog's JSON escapes strings, and its console writer quotes any value
// with a control character, a quote, a backslash or a byte >= 0x7f.
type accessLogger struct {
	format string
	log    zerolog.Logger // json and console
	out    io.Writer      // combined; safe for concurrent use, one Write per line
}

// newAccessLogger builds the logger of cfg. A file output is acquired
// from files and returned: the caller releases it when its config is done
// with it (nil for stdout, stderr, and when checkOnly).
func newAccessLogger(cfg *config.AccessLog, checkOnly bool, files *logFiles) (*accessLogger, *logFile, error) {
	switch cfg.Format {
	case "", "json", "console", "combined":
	default:
		return nil, nil, fmt.Errorf("unknown format %q (want json, console or combined)", cfg.Format)
	}
	var out io.Writer
	var file *logFile
	switch cfg.Output {
	case "", "stderr":
		out = stderrLog
	case "stdout":
		out = stdoutLog
	default:
		if checkOnly {
			out = io.Discard // validate does not create log files
			break
		}
		f, err := files.acquire(cfg.Output)
		if err != nil {
			return nil, nil, err
		}
		out, file = f, f
	}
	l := &accessLogger{format: cfg.Format, out: out}
	switch cfg.Format {
	case "", "json":
		l.log = zerolog.New(out).With().Timestamp().Str("log", "access").Logger()
	case "console":
		l.log = zerolog.New(zerolog.ConsoleWriter{Out: out, TimeFormat: time.RFC3339}).With().Timestamp().Logger()
	}
	return l, file, nil
}

// logRecord is what the access log learns about a request while it runs.
type logRecord struct {
	start    time.Time
	status   int
	bytes    int64
	id       string
	balancer string
	member   string
	reason   string
	attempts int
	trusted  *trustedProxies // the site's, so the client is the real one behind an ALB
}

type logKey struct{}

type recorder struct {
	http.ResponseWriter
	rec *logRecord
}

func (w *recorder) WriteHeader(code int) {
	if w.rec.status == 0 || w.rec.status < 200 {
		w.rec.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.rec.status == 0 {
		w.rec.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.rec.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack (streaming,
// WebSocket upgrades).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (l *accessLogger) begin(w http.ResponseWriter, r *http.Request, s *site) (http.ResponseWriter, *http.Request) {
	rec := &logRecord{start: time.Now(), trusted: s.trusted}
	r = r.WithContext(context.WithValue(r.Context(), logKey{}, rec))
	return &recorder{ResponseWriter: w, rec: rec}, r
}

func (l *accessLogger) end(w http.ResponseWriter, r *http.Request) {
	rec := r.Context().Value(logKey{}).(*logRecord)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	client := clientHost(r, rec.trusted)
	uri := loggedURI(r)
	dur := time.Since(rec.start)
	if l.format == "combined" {
		// %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"
		line := make([]byte, 0, 160+len(uri))
		line = appendLogItem(line, client)
		line = append(line, " - - ["...)
		line = rec.start.AppendFormat(line, "02/Jan/2006:15:04:05 -0700")
		line = append(line, "] \""...)
		line = appendLogItem(line, r.Method)
		line = append(line, ' ')
		line = appendLogItem(line, uri)
		line = append(line, ' ')
		line = appendLogItem(line, r.Proto)
		line = append(line, "\" "...)
		line = strconv.AppendInt(line, int64(rec.status), 10)
		line = append(line, ' ')
		if rec.bytes > 0 {
			line = strconv.AppendInt(line, rec.bytes, 10)
		} else {
			line = append(line, '-')
		}
		line = append(line, " \""...)
		line = appendLogItem(line, orDash(r.Referer()))
		line = append(line, "\" \""...)
		line = appendLogItem(line, orDash(r.UserAgent()))
		line = append(line, "\"\n"...)
		_, _ = l.out.Write(line)
		return
	}
	ev := l.log.Info().
		Str("client", client).
		Str("method", r.Method).
		Str("host", r.Host).
		Str("uri", uri).
		Str("proto", r.Proto).
		Int("status", rec.status).
		Int64("bytes", rec.bytes).
		Float64("duration_ms", float64(dur.Microseconds())/1000)
	if rec.balancer != "" {
		ev = ev.Str("balancer", rec.balancer).Str("member", rec.member).Str("reason", rec.reason).Int("attempts", rec.attempts)
	}
	if rec.id != "" {
		ev = ev.Str("request_id", rec.id)
	}
	ev.Msg("request")
}

// setChosen tells the access log where the request went.
func setChosen(r *http.Request, st *reqState) {
	rec, ok := r.Context().Value(logKey{}).(*logRecord)
	if !ok {
		return
	}
	rec.balancer = st.b.name
	rec.member = st.dec.Member.Name
	rec.reason = st.dec.Reason.String()
	rec.attempts = st.attempts
}

// setLoggedStatus records an error answer's status and request id.
func setLoggedStatus(r *http.Request, status int, id string) {
	if rec, ok := r.Context().Value(logKey{}).(*logRecord); ok {
		rec.status = status
		rec.id = id
	}
}

// loggedURI is the request target as the client sent it (r.RequestURI;
// for a request without one, the escaped path and query), so that an
// encoded byte such as %0A stays encoded, with path parameters cut from
// the path: ";jsessionid=..." and its encoded form "%3Bjsessionid=...",
// which Tether's routing also reads as one (it matches the decoded path).
func loggedURI(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			uri += "?" + r.URL.RawQuery
		}
	}
	path, query, hasQuery := strings.Cut(uri, "?")
	path = stripRawPathParams(path)
	if hasQuery {
		return path + "?" + query
	}
	return path
}

// stripRawPathParams is stripPathParams for a path still escaped: a
// parameter starts at ';' or "%3B" (either case) and runs to the next '/'
// (past any "%2F", which is more than the decoded path would lose, never
// less). It allocates only when the path has one.
func stripRawPathParams(path string) string {
	start := rawParamStart(path)
	if start < 0 {
		return path
	}
	var b strings.Builder
	b.Grow(len(path))
	for start >= 0 {
		b.WriteString(path[:start])
		path = path[start:]
		j := strings.IndexByte(path, '/')
		if j < 0 {
			return b.String()
		}
		path = path[j:]
		start = rawParamStart(path)
	}
	b.WriteString(path)
	return b.String()
}

// rawParamStart returns where the first path parameter of an escaped path
// starts, or -1.
func rawParamStart(path string) int {
	for i := 0; i < len(path); i++ {
		switch {
		case path[i] == ';':
			return i
		case path[i] == '%' && i+2 < len(path) && path[i+1] == '3' && path[i+2]|0x20 == 'b':
			return i
		}
	}
	return -1
}

// appendLogItem appends s escaped as Apache's ap_escape_logitem does, so
// that no field of a combined line can end it or fake another field: '"'
// and '\\' get a backslash, \b \n \r \t \v their C escapes, and every
// other byte below 0x20 or from 0x7f up (UTF-8 included) is \xhh.
func appendLogItem(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\v':
			dst = append(dst, '\\', 'v')
		default:
			if c < 0x20 || c >= 0x7f {
				dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
			} else {
				dst = append(dst, c)
			}
		}
	}
	return dst
}

// orDash is s, or "-" when it is empty (Apache's combined format for a
// missing Referer or User-Agent).
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

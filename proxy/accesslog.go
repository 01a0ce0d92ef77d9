package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
)

// accessLogger writes one line per request of a site: a zerolog event
// (JSON, or human-readable with format console) or Apache's combined format
// for teams whose log tooling expects it. It never logs cookies or session
// ids: path parameters (;jsessionid=...) are cut from the logged path.
type accessLogger struct {
	format string
	log    zerolog.Logger // json and console
	mu     sync.Mutex     // guards out for combined
	out    io.Writer
}

func newAccessLogger(cfg *config.AccessLog, checkOnly bool) (*accessLogger, error) {
	var out io.Writer
	switch cfg.Output {
	case "", "stderr":
		out = os.Stderr
	case "stdout":
		out = os.Stdout
	default:
		if checkOnly {
			out = io.Discard // validate does not create log files
			break
		}
		f, err := os.OpenFile(cfg.Output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, err
		}
		out = f
	}
	l := &accessLogger{format: cfg.Format, out: out}
	switch cfg.Format {
	case "", "json":
		l.log = zerolog.New(out).With().Timestamp().Str("log", "access").Logger()
	case "console":
		l.log = zerolog.New(zerolog.ConsoleWriter{Out: out, TimeFormat: time.RFC3339}).With().Timestamp().Logger()
	case "combined":
	default:
		return nil, fmt.Errorf("unknown format %q (want json, console or combined)", cfg.Format)
	}
	return l, nil
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
	uri := stripPathParams(r.URL.Path)
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	dur := time.Since(rec.start)
	if l.format == "combined" {
		size := "-"
		if rec.bytes > 0 {
			size = strconv.FormatInt(rec.bytes, 10)
		}
		line := fmt.Sprintf("%s - - [%s] \"%s %s %s\" %d %s %q %q\n",
			client, rec.start.Format("02/Jan/2006:15:04:05 -0700"), r.Method, uri, r.Proto,
			rec.status, size, r.Referer(), r.UserAgent())
		l.mu.Lock()
		_, _ = io.WriteString(l.out, line)
		l.mu.Unlock()
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

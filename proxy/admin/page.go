package admin

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/tether-proxy/tether/proxy"
)

// statusPageHTML is the status page's template: one server-rendered page,
// its CSS inline, a few lines of script for the state buttons, no external
// assets, so it loads in one request and works on an air-gapped host.
//
//go:embed page.html
var statusPageHTML string

var statusPageTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"ago":      ago,
	"duration": humanDuration,
	"ms":       func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"lag":      LagText,
	"pct": func(n, total uint64) string {
		if total == 0 {
			return "0"
		}
		return strconv.FormatFloat(100*float64(n)/float64(total), 'f', 1, 64)
	},
	"days": func(t, now time.Time) string {
		return strconv.Itoa(int(t.Sub(now).Hours() / 24))
	},
	"soon":         func(t, now time.Time) bool { return t.Sub(now) < 14*24*time.Hour },
	"stateActions": func() []stateAction { return stateActions },
}).Parse(statusPageHTML))

// stateAction is one of a member row's buttons.
type stateAction struct{ State, Label, Title string }

// stateActions are the buttons: drain is mod_jk's and HAProxy's name for
// what Tether calls disabled.
var stateActions = []stateAction{
	{"active", "activate", "take new sessions and requests"},
	{"disabled", "disable", "drain: keep serving its sessions, take no new ones"},
	{"stopped", "stop", "no traffic at all; its sessions fail over"},
}

// pageData is what the template renders.
type pageData struct {
	proxy.Status
	Now     time.Time
	Uptime  time.Duration
	Refresh int // seconds between reloads; 0 turns them off
}

// defaultRefresh is how often the page reloads itself, in seconds: often
// enough to follow a failover, rare enough to click a button between
// reloads. ?refresh=N changes it, ?refresh=0 stops it.
const defaultRefresh = 5

// page serves GET /, the status page.
func (a *api) page(w http.ResponseWriter, r *http.Request) {
	now := a.now()
	d := pageData{Status: a.s.Status(), Now: now, Refresh: defaultRefresh}
	d.Uptime = now.Sub(d.Node.Started)
	if v := r.URL.Query().Get("refresh"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 3600 {
			d.Refresh = n
		}
	}
	writePage(w, d)
}

// writePage renders the page into a buffer first, so a template error
// answers 500 rather than half a page.
func writePage(w http.ResponseWriter, d pageData) {
	var buf bytes.Buffer
	if err := statusPageTmpl.Execute(&buf, d); err != nil {
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Nothing but this page's own inline style and script, requests to
	// this origin only, and no framing (clickjacking on the buttons).
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(buf.Bytes())
}

// humanDuration formats d coarsely: 3d4h, 5h12m, 7m3s, 12s.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

func ago(t, now time.Time) string { return humanDuration(now.Sub(t)) + " ago" }

// LagText renders a replication lag in milliseconds: "none received yet"
// before the first batch, "< 1 ms" within the millisecond that entry
// versions carry.
func LagText(ms *float64) string {
	switch {
	case ms == nil:
		return "none received yet"
	case *ms < 1:
		return "< 1 ms"
	}
	return strconv.FormatFloat(*ms, 'f', 1, 64) + " ms"
}

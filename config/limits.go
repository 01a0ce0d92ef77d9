package config

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits are the client-side limits of the request path: how long a client
// may take and how much it may send. The global limits block sets them for
// every listener; a site's limits block overrides the per-request ones for
// that site. Parse fills in every default.
type Limits struct {
	// HeaderTimeout bounds the time from a connection's first byte (its TLS
	// handshake included) or the end of the previous request to the end of
	// a request's head. Per listener: global only. Default 10s.
	HeaderTimeout time.Duration
	// BodyTimeout is the longest pause allowed between two reads of a
	// request body; past it the request gets 408. Default 20s (Apache's
	// mod_reqtimeout body=20).
	BodyTimeout time.Duration
	// BodyMinRate, in bytes per second, is the average rate a request body
	// must keep up once BodyTimeout has passed: the body may take
	// BodyTimeout plus one second per BodyMinRate bytes received (Apache's
	// mod_reqtimeout MinRate), so a client trickling bytes cannot hold a
	// member connection. Default 500; 0 checks only the pause.
	BodyMinRate int64
	// WriteTimeout is the longest one write of a response to the client may
	// block (a client that stops reading); the connection is then closed.
	// Default 60s (nginx's send_timeout).
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request. Per listener: global only. Default 2m.
	IdleTimeout time.Duration
	// MaxHeaderSize bounds a request's line and headers, in bytes (431
	// beyond). Per listener: global only. Default 64 KiB.
	MaxHeaderSize int64
	// MaxBodySize bounds a request body, in bytes (413 beyond). Default
	// 1 GiB (Apache's LimitRequestBody since 2.4.54); 0 means no limit.
	MaxBodySize int64
	// MaxURILength bounds the request target, in bytes (414 beyond).
	// Default 8 KiB.
	MaxURILength int64
	// Pos is the limits directive; zero when the defaults apply.
	Pos Pos
}

// DefaultLimits returns the limits without a limits block.
func DefaultLimits() Limits {
	return Limits{
		HeaderTimeout: 10 * time.Second, // slowloris; also bounds the TLS handshake
		BodyTimeout:   20 * time.Second, // mod_reqtimeout body=20
		BodyMinRate:   500,              // mod_reqtimeout MinRate=500
		WriteTimeout:  60 * time.Second, // nginx send_timeout
		IdleTimeout:   2 * time.Minute,
		MaxHeaderSize: 64 << 10,
		MaxBodySize:   1 << 30, // Apache LimitRequestBody default
		MaxURILength:  8 << 10, // Apache LimitRequestLine 8190, nginx 8k buffers
	}
}

// limitOption is one option of a limits block: its bounds, and whether a
// site may set it (the others apply to a listener before any site is known).
type limitOption struct {
	name     string
	site     bool
	min, max int64 // nanoseconds for durations, bytes or bytes/s otherwise
	zeroOK   bool  // 0 is allowed (and means off or unlimited)
	duration bool
	set      func(l *Limits, v int64)
}

var limitOptions = []limitOption{
	{name: "header_timeout", min: int64(100 * time.Millisecond), max: int64(time.Hour), duration: true,
		set: func(l *Limits, v int64) { l.HeaderTimeout = time.Duration(v) }},
	{name: "body_timeout", site: true, min: int64(100 * time.Millisecond), max: int64(24 * time.Hour), duration: true,
		set: func(l *Limits, v int64) { l.BodyTimeout = time.Duration(v) }},
	{name: "body_min_rate", site: true, min: 1, max: 1 << 40, zeroOK: true,
		set: func(l *Limits, v int64) { l.BodyMinRate = v }},
	{name: "write_timeout", site: true, min: int64(100 * time.Millisecond), max: int64(24 * time.Hour), duration: true,
		set: func(l *Limits, v int64) { l.WriteTimeout = time.Duration(v) }},
	{name: "idle_timeout", min: int64(100 * time.Millisecond), max: int64(24 * time.Hour), duration: true,
		set: func(l *Limits, v int64) { l.IdleTimeout = time.Duration(v) }},
	{name: "max_header_size", min: 1 << 10, max: 16 << 20,
		set: func(l *Limits, v int64) { l.MaxHeaderSize = v }},
	{name: "max_body_size", site: true, min: 1, max: 1 << 50, zeroOK: true,
		set: func(l *Limits, v int64) { l.MaxBodySize = v }},
	{name: "max_uri_length", site: true, min: 256, max: 16 << 20,
		set: func(l *Limits, v int64) { l.MaxURILength = v }},
}

func limitNames(site bool) []string {
	var out []string
	for _, o := range limitOptions {
		if o.site || !site {
			out = append(out, o.name)
		}
	}
	return out
}

// limits parses "limits { OPTION VALUE ... }" into l, which holds the
// values it starts from (the defaults, or the global limits for a site).
func limits(n *node, l *Limits, site bool) error {
	if err := n.argc(0, 0); err != nil {
		return err
	}
	if !n.hasBlock {
		return errorf(n.args[0].pos, "limits: want a block of options (%s)", orList(limitNames(site)))
	}
	l.Pos = n.args[0].pos
	seen := map[string]Pos{}
	for _, s := range n.block {
		if err := once(seen, s); err != nil {
			return err
		}
		i := slices.IndexFunc(limitOptions, func(o limitOption) bool { return o.name == s.name() })
		if i < 0 {
			return unknown(s, "limits option", limitNames(site), nil, "")
		}
		o := limitOptions[i]
		if site && !o.site {
			return errorf(s.args[0].pos, "limits: %s applies to a listener before its site is known; set it in the global options' limits block", o.name)
		}
		if err := s.simple(1); err != nil {
			return err
		}
		t := s.arg(0)
		var v int64
		if o.duration {
			d, err := ParseDuration(t.text)
			if err != nil {
				return errorf(t.pos, "%s: %w", o.name, err)
			}
			v = int64(d)
		} else {
			var err error
			if v, err = parseSize(t.text); err != nil {
				return errorf(t.pos, "%s: %w", o.name, err)
			}
		}
		if v == 0 && o.zeroOK {
			o.set(l, 0)
			continue
		}
		if v < o.min || v > o.max {
			return errorf(t.pos, "%s: %s is out of range %s..%s", o.name, t.text, o.format(o.min), o.format(o.max))
		}
		o.set(l, v)
	}
	return nil
}

func (o limitOption) format(v int64) string {
	if o.duration {
		return time.Duration(v).String()
	}
	return strconv.FormatInt(v, 10)
}

// sizeUnits are the byte-size suffixes: decimal KB/MB/GB/TB and binary
// KiB/MiB/GiB/TiB, as Caddy (go-humanize) reads them, any case.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"b", 1},
}

// parseSize parses a byte size: a whole number, optionally followed by a
// unit ("64KiB", "10MB", "1gb", "512").
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	lower := strings.ToLower(s)
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, u.suffix) {
			num, mult = s[:len(s)-len(u.suffix)], u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, &sizeError{s: s}
	}
	return n * mult, nil
}

type sizeError struct{ s string }

func (e *sizeError) Error() string {
	return "bad size " + strconv.Quote(e.s) + " (want bytes, e.g. 512, 64KiB, 10MB or 1GiB)"
}

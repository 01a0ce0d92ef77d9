package config

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds issue 15's reverse_proxy options that protect members
// from the proxy's own retries and from a member that is worse than its
// peers, and the richer active checks: retry_budget, lb_try_duration,
// lb_try_interval, outlier { ... }, health_body, health_headers and
// health_method. reverseProxy hands them to resilienceOption.

// RetryBudget bounds the retries a balancer sends to other members to a
// share of its recent requests (Finagle's and linkerd's rate budget, the
// idea of Envoy's retry_budget): over the last Window, retries may be at
// most Percent % of the requests, plus MinPerSec retries a second that are
// always allowed (the floor that keeps a quiet balancer retrying, as
// Envoy's min_retry_concurrency does for its concurrency budget). A retry
// the budget refuses is not sent: the client gets the failed attempt's
// answer, and the balancer counts it (retries_refused).
type RetryBudget struct {
	Percent   int           // 0..100
	MinPerSec int           // default 3; 0..10000
	Window    time.Duration // default 10s; 1s..10m
}

// Outlier is outlier ejection (Envoy's outlier detection): every Interval
// each member's attempts of that interval are judged, and a member whose
// error ratio (5xx answers and transport errors it caused; client faults
// never count) reached FailureRatio, or whose mean time to response
// headers is LatencyFactor times the median of its peers' or more, is
// ejected for BaseEjectionTime × the number of times it was ejected,
// capped at MaxEjectionTime. A member needs MinRequests attempts in the
// interval to be judged (and a peer needs them to count for latency). No
// more than MaxEjection % of the balancer's members are ever out at once
// through ejection (counting members out for any reason).
type Outlier struct {
	Interval         time.Duration // default 10s
	FailureRatio     int           // percent, 1..100; default 50
	LatencyFactor    float64       // 0 (off, the default) or 1.5..1000
	MinRequests      int           // default 20
	BaseEjectionTime time.Duration // default 30s
	MaxEjectionTime  time.Duration // default 5m
	MaxEjection      int           // percent, 0..100; default 50
	Pos              Pos
}

// HealthHeader is one field of health_headers: sent with every active
// check (Host sets the request's Host).
type HealthHeader struct {
	Name   string
	Values []string
}

// DefaultOutlier returns outlier ejection's defaults.
func DefaultOutlier() *Outlier {
	return &Outlier{
		Interval:         10 * time.Second, // Envoy's interval
		FailureRatio:     50,               // half the attempts failing is far from a healthy member's
		MinRequests:      20,               // Envoy's failure_percentage_request_volume is 50; Tether's balancers are smaller
		BaseEjectionTime: 30 * time.Second, // Envoy's base_ejection_time
		MaxEjectionTime:  5 * time.Minute,  // Envoy's max_ejection_time
		MaxEjection:      50,               // never more than half the balancer (issue 15)
	}
}

// resilienceOption parses one of retry_budget, lb_try_duration,
// lb_try_interval, outlier, health_body, health_headers and health_method
// into bal.
func (b *builder) resilienceOption(d *node, bal *Balancer) error {
	switch d.name() {
	case "retry_budget":
		rb, err := retryBudget(d)
		if err == nil {
			bal.RetryBudget = rb
		}
		return err
	case "lb_try_duration":
		if err := d.simple(1); err != nil {
			return err
		}
		v, err := boundedDur(d, d.arg(0), 0, 10*time.Minute)
		bal.TryDuration = v
		return err
	case "lb_try_interval":
		if err := d.simple(1); err != nil {
			return err
		}
		v, err := boundedDur(d, d.arg(0), time.Millisecond, time.Minute)
		bal.TryInterval = v
		return err
	case "outlier":
		o, err := outlier(d)
		if err == nil {
			bal.Outlier = o
		}
		return err
	case "health_body":
		if err := d.simple(1); err != nil {
			return err
		}
		if d.arg(0).text == "" {
			return errorf(d.arg(0).pos, "health_body: empty pattern")
		}
		if _, err := regexp.Compile(d.arg(0).text); err != nil {
			return errorf(d.arg(0).pos, "health_body: %q is not a regular expression: %v", d.arg(0).text, err)
		}
		bal.HealthBody = d.arg(0).text
		return nil
	case "health_headers":
		hs, err := healthHeaders(d)
		if err == nil {
			bal.HealthHeaders = hs
		}
		return err
	case "health_method":
		if err := d.simple(1); err != nil {
			return err
		}
		m := d.arg(0).text
		if !validMethod(m) || m == "CONNECT" || len(m) > 32 {
			return errorf(d.arg(0).pos, "health_method: %q is not an HTTP method (want GET, HEAD, POST, ...)", m)
		}
		bal.HealthMethod = m
		return nil
	}
	return errorf(d.args[0].pos, "%s: not a resilience option", d.name())
}

// checkResilience checks what the resilience options say together, once
// the whole block is read: retriesSet says whether retries (lb_retries) was
// written.
func checkResilience(bal *Balancer, retriesSet bool, at map[string]Pos) error {
	if bal.TryDuration > 0 && !retriesSet {
		// Caddy: with lb_try_duration alone, a request keeps trying until
		// the duration is up; lb_retries, when set, bounds the count too.
		bal.Retries = 100
	}
	if bal.TryInterval > 0 && bal.TryDuration == 0 {
		return errorf(at["lb_try_interval"], "lb_try_interval: only with lb_try_duration (the interval is the wait between tries within it)")
	}
	if bal.HealthBody != "" && bal.HealthMethod == "HEAD" {
		return errorf(at["health_body"], "health_body: an answer to health_method HEAD has no body")
	}
	if (bal.HealthBody != "" || len(bal.HealthHeaders) > 0 || bal.HealthMethod != "") && bal.HealthURI == "" {
		for _, k := range []string{"health_body", "health_headers", "health_method"} {
			if p, ok := at[k]; ok {
				return errorf(p, "%s: active checks are off; add health_uri (or health_port)", k)
			}
		}
	}
	return nil
}

// retryBudget parses "retry_budget PERCENT% [min N] [window D]" and
// "retry_budget off".
func retryBudget(d *node) (*RetryBudget, error) {
	if err := d.argc(1, 5); err != nil {
		return nil, err
	}
	if err := d.noBlock(); err != nil {
		return nil, err
	}
	if d.arg(0).text == "off" {
		if d.nargs() > 1 {
			return nil, errorf(d.arg(1).pos, "retry_budget off: unexpected argument %q", d.arg(1).text)
		}
		return nil, nil
	}
	p, err := percentArg(d, d.arg(0), 0, 100)
	if err != nil {
		return nil, err
	}
	rb := &RetryBudget{Percent: p, MinPerSec: 3, Window: 10 * time.Second}
	seen := map[string]bool{}
	for i := 1; i < d.nargs(); i += 2 {
		k := d.arg(i)
		if k.text != "min" && k.text != "window" {
			return nil, errorf(k.pos, "retry_budget: unexpected %q (want PERCENT%% [min N] [window D])", k.text)
		}
		if seen[k.text] {
			return nil, errorf(k.pos, "retry_budget: %s is given twice", k.text)
		}
		seen[k.text] = true
		if i+1 >= d.nargs() {
			return nil, errorf(k.pos, "retry_budget: %s wants a value", k.text)
		}
		v := d.arg(i + 1)
		if k.text == "min" {
			if rb.MinPerSec, err = intArg(d, v, 0, 10000); err != nil {
				return nil, err
			}
			continue
		}
		if rb.Window, err = boundedDur(d, v, time.Second, 10*time.Minute); err != nil {
			return nil, err
		}
	}
	return rb, nil
}

// outlierOptions are the options of an outlier block.
var outlierOptions = []string{"interval", "failure_ratio", "latency_factor", "min_requests", "base_ejection_time", "max_ejection_time", "max_ejection"}

// outlier parses "outlier [{ ... }]" (outlierOptions), and "outlier off".
func outlier(d *node) (*Outlier, error) {
	if err := d.argc(0, 1); err != nil {
		return nil, err
	}
	if d.nargs() == 1 {
		if d.arg(0).text != "off" && d.arg(0).text != "on" {
			return nil, errorf(d.arg(0).pos, "outlier: unexpected argument %q (want a block, on or off)", d.arg(0).text)
		}
		if err := d.noBlock(); err != nil {
			return nil, err
		}
		if d.arg(0).text == "off" {
			return nil, nil
		}
	}
	o := DefaultOutlier()
	o.Pos = d.args[0].pos
	seen := map[string]Pos{}
	maxSet := false
	for _, s := range d.block {
		if err := once(seen, s); err != nil {
			return nil, err
		}
		if !slices.Contains(outlierOptions, s.name()) {
			return nil, unknown(s, "outlier option", outlierOptions, nil, "")
		}
		if err := s.simple(1); err != nil {
			return nil, err
		}
		t := s.arg(0)
		var err error
		switch s.name() {
		case "interval":
			o.Interval, err = boundedDur(s, t, 100*time.Millisecond, time.Hour)
		case "failure_ratio":
			o.FailureRatio, err = percentArg(s, t, 1, 100)
		case "latency_factor":
			v, perr := strconv.ParseFloat(strings.TrimSuffix(t.text, "x"), 64)
			switch {
			case perr != nil || math.IsNaN(v):
				err = errorf(t.pos, "latency_factor: %q: want a factor such as 5 or 5x", t.text)
			case v != 0 && (v < 1.5 || v > 1000):
				err = errorf(t.pos, "latency_factor: %s is out of range 1.5..1000 (or 0, off)", t.text)
			}
			o.LatencyFactor = v
		case "min_requests":
			o.MinRequests, err = intArg(s, t, 1, 1_000_000)
		case "base_ejection_time":
			o.BaseEjectionTime, err = boundedDur(s, t, 100*time.Millisecond, 24*time.Hour)
		case "max_ejection_time":
			o.MaxEjectionTime, err = boundedDur(s, t, 100*time.Millisecond, 24*time.Hour)
			maxSet = true
		case "max_ejection":
			o.MaxEjection, err = percentArg(s, t, 0, 100)
		}
		if err != nil {
			return nil, err
		}
	}
	if o.MaxEjectionTime < o.BaseEjectionTime {
		if maxSet {
			return nil, errorf(seen["max_ejection_time"], "max_ejection_time: %s is less than base_ejection_time %s", o.MaxEjectionTime, o.BaseEjectionTime)
		}
		o.MaxEjectionTime = o.BaseEjectionTime
	}
	return o, nil
}

// healthHeaders parses Caddy's "health_headers { FIELD VALUE...; ... }".
func healthHeaders(d *node) ([]HealthHeader, error) {
	if err := d.argc(0, 0); err != nil {
		return nil, err
	}
	if !d.hasBlock || len(d.block) == 0 {
		return nil, errorf(d.args[0].pos, "health_headers: want a block of header fields, such as { Host example.com }")
	}
	var hs []HealthHeader
	seen := map[string]Pos{}
	for _, s := range d.block {
		if err := s.noBlock(); err != nil {
			return nil, err
		}
		name := s.name()
		if !validFieldName(name) {
			return nil, errorf(s.args[0].pos, "health_headers: %q is not a header field name", name)
		}
		canon := canonicalHeader(name)
		if prev, dup := seen[canon]; dup {
			return nil, errorf(s.args[0].pos, "health_headers: %s is set twice (first at %s); give one line several values", name, prev)
		}
		seen[canon] = s.args[0].pos
		h := HealthHeader{Name: canon}
		for _, v := range s.args[1:] {
			if strings.ContainsAny(v.text, "\r\n\x00") {
				return nil, errorf(v.pos, "health_headers: the value of %s has a line break or NUL", name)
			}
			h.Values = append(h.Values, v.text)
		}
		if canon == "Host" && len(h.Values) != 1 {
			return nil, errorf(s.args[0].pos, "health_headers: Host wants exactly one value")
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// percentArg parses "N%" within min..max.
func percentArg(n *node, t token, min, max int) (int, error) {
	s, ok := strings.CutSuffix(t.text, "%")
	v, err := strconv.Atoi(s)
	if !ok || err != nil {
		return 0, errorf(t.pos, "%s: %q: want a percentage such as 20%%", n.name(), t.text)
	}
	if v < min || v > max {
		return 0, errorf(t.pos, "%s: %d%% is out of range %d%%..%d%%", n.name(), v, min, max)
	}
	return v, nil
}

// boundedDur parses a duration within lo..hi (0 only when lo is 0).
func boundedDur(n *node, t token, lo, hi time.Duration) (time.Duration, error) {
	v, err := ParseDuration(t.text)
	if err != nil {
		return 0, errorf(t.pos, "%s: %v", n.name(), err)
	}
	if v < lo || v > hi {
		return 0, errorf(t.pos, "%s: %s is out of range %s..%s", n.name(), t.text, lo, hi)
	}
	return v, nil
}

package config

import (
	"strings"
	"testing"
	"time"
)

// TestResilienceOptions: what retry_budget, lb_try_duration,
// lb_try_interval, outlier and the richer active checks set, defaults
// included.
func TestResilienceOptions(t *testing.T) {
	parse := func(t *testing.T, opts string) *Balancer {
		t.Helper()
		cfg, err := Parse("Caddyfile", []byte("example.com {\n\treverse_proxy a=http://127.0.0.1:1 b=http://127.0.0.1:2 {\n"+opts+"\t}\n}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Sites[0].Balancers[0]
	}
	t.Run("retry_budget defaults", func(t *testing.T) {
		b := parse(t, "\t\tretry_budget 20%\n")
		if got, want := *b.RetryBudget, (RetryBudget{Percent: 20, MinPerSec: 3, Window: 10 * time.Second}); got != want {
			t.Errorf("retry_budget 20%% = %+v; want %+v", got, want)
		}
	})
	t.Run("retry_budget all", func(t *testing.T) {
		b := parse(t, "\t\tretry_budget 5% window 1m min 0\n")
		if got, want := *b.RetryBudget, (RetryBudget{Percent: 5, MinPerSec: 0, Window: time.Minute}); got != want {
			t.Errorf("retry_budget = %+v; want %+v", got, want)
		}
	})
	t.Run("lb_try_duration alone lifts the retry count", func(t *testing.T) {
		b := parse(t, "\t\tlb_try_duration 3s\n")
		if b.TryDuration != 3*time.Second || b.Retries != 100 || b.TryInterval != 0 {
			t.Errorf("lb_try_duration 3s: try %s, retries %d, interval %s; want 3s, 100, 0 (250ms at run time)", b.TryDuration, b.Retries, b.TryInterval)
		}
	})
	t.Run("lb_retries bounds lb_try_duration", func(t *testing.T) {
		b := parse(t, "\t\tlb_try_duration 3s\n\t\tlb_try_interval 10ms\n\t\tlb_retries 2\n")
		if b.Retries != 2 || b.TryInterval != 10*time.Millisecond {
			t.Errorf("retries %d, interval %s; want 2, 10ms", b.Retries, b.TryInterval)
		}
	})
	t.Run("outlier defaults", func(t *testing.T) {
		b := parse(t, "\t\toutlier\n")
		want := DefaultOutlier()
		want.Pos = b.Outlier.Pos
		if *b.Outlier != *want || b.Outlier.Pos.Line != 3 {
			t.Errorf("outlier = %+v; want %+v at line 3", *b.Outlier, *want)
		}
	})
	t.Run("outlier block", func(t *testing.T) {
		b := parse(t, "\t\toutlier {\n\t\t\tfailure_ratio 30%\n\t\t\tlatency_factor 3\n\t\t\tbase_ejection_time 1m\n\t\t\tmax_ejection 0%\n\t\t}\n")
		o := b.Outlier
		if o.FailureRatio != 30 || o.LatencyFactor != 3 || o.BaseEjectionTime != time.Minute || o.MaxEjectionTime != 5*time.Minute || o.MaxEjection != 0 {
			t.Errorf("outlier = %+v", *o)
		}
	})
	t.Run("outlier base above the default cap lifts the cap", func(t *testing.T) {
		if o := parse(t, "\t\toutlier {\n\t\t\tbase_ejection_time 10m\n\t\t}\n").Outlier; o.MaxEjectionTime != 10*time.Minute {
			t.Errorf("max_ejection_time %s; want 10m", o.MaxEjectionTime)
		}
	})
	t.Run("active checks", func(t *testing.T) {
		b := parse(t, "\t\thealth_uri /h\n\t\thealth_status 200 3xx\n\t\thealth_body UP\n\t\thealth_method POST\n\t\thealth_headers {\n\t\t\thost h.example\n\t\t\tx-a 1 2\n\t\t}\n")
		if strings.Join(b.HealthStatus, ",") != "200,3xx" || b.HealthBody != "UP" || b.HealthMethod != "POST" {
			t.Errorf("health_status %v, body %q, method %q", b.HealthStatus, b.HealthBody, b.HealthMethod)
		}
		if len(b.HealthHeaders) != 2 || b.HealthHeaders[0].Name != "Host" || b.HealthHeaders[1].Name != "X-A" || strings.Join(b.HealthHeaders[1].Values, ",") != "1,2" {
			t.Errorf("health_headers %+v; want Host h.example, X-A 1 2", b.HealthHeaders)
		}
	})
}

// TestResilienceErrors: every mistake names its file:line:col.
func TestResilienceErrors(t *testing.T) {
	for _, tc := range []struct{ name, opts, want string }{
		{"budget no percent", "\t\tretry_budget 20\n", `Caddyfile:3:16: retry_budget: "20": want a percentage such as 20%`},
		{"budget over 100", "\t\tretry_budget 120%\n", "Caddyfile:3:16: retry_budget: 120% is out of range 0%..100%"},
		{"budget unknown word", "\t\tretry_budget 20% max 3\n", `Caddyfile:3:20: retry_budget: unexpected "max" (want PERCENT% [min N] [window D])`},
		{"budget min missing", "\t\tretry_budget 20% min\n", "Caddyfile:3:20: retry_budget: min wants a value"},
		{"budget min twice", "\t\tretry_budget 20% min 1 min 2\n", "Caddyfile:3:26: retry_budget: min is given twice"},
		{"budget min bad", "\t\tretry_budget 20% min -1\n", "Caddyfile:3:24: retry_budget: -1 is out of range 0..10000"},
		{"budget window", "\t\tretry_budget 20% window 10ms\n", "Caddyfile:3:27: retry_budget: 10ms is out of range 1s..10m0s"},
		{"budget off args", "\t\tretry_budget off 3\n", `Caddyfile:3:20: retry_budget off: unexpected argument "3"`},
		{"budget twice", "\t\tretry_budget 20%\n\t\tretry_budget 10%\n", "Caddyfile:4:3: retry_budget is set twice (first at Caddyfile:3:3)"},
		{"try duration", "\t\tlb_try_duration 1h\n", "Caddyfile:3:19: lb_try_duration: 1h is out of range 0s..10m0s"},
		{"try interval alone", "\t\tlb_try_interval 100ms\n", "Caddyfile:3:3: lb_try_interval: only with lb_try_duration"},
		{"try interval zero", "\t\tlb_try_duration 1s\n\t\tlb_try_interval 0\n", "Caddyfile:4:19: lb_try_interval: 0 is out of range 1ms..1m0s"},
		{"outlier arg", "\t\toutlier yes\n", `Caddyfile:3:11: outlier: unexpected argument "yes" (want a block, on or off)`},
		{"outlier unknown", "\t\toutlier {\n\t\t\tconsecutive_5xx 5\n\t\t}\n", `Caddyfile:4:4: unknown outlier option "consecutive_5xx"`},
		{"outlier twice", "\t\toutlier {\n\t\t\tinterval 1s\n\t\t\tinterval 2s\n\t\t}\n", "Caddyfile:5:4: interval is set twice (first at Caddyfile:4:4)"},
		{"outlier ratio", "\t\toutlier {\n\t\t\tfailure_ratio 0%\n\t\t}\n", "Caddyfile:4:18: failure_ratio: 0% is out of range 1%..100%"},
		{"outlier latency", "\t\toutlier {\n\t\t\tlatency_factor 1.2\n\t\t}\n", "Caddyfile:4:19: latency_factor: 1.2 is out of range 1.5..1000 (or 0, off)"},
		{"outlier latency NaN", "\t\toutlier {\n\t\t\tlatency_factor NaN\n\t\t}\n", `Caddyfile:4:19: latency_factor: "NaN": want a factor such as 5 or 5x`},
		{"outlier latency word", "\t\toutlier {\n\t\t\tlatency_factor slow\n\t\t}\n", `Caddyfile:4:19: latency_factor: "slow": want a factor such as 5 or 5x`},
		{"outlier max ejection", "\t\toutlier {\n\t\t\tmax_ejection 50\n\t\t}\n", `Caddyfile:4:17: max_ejection: "50": want a percentage such as 20%`},
		{"outlier cap below base", "\t\toutlier {\n\t\t\tbase_ejection_time 1m\n\t\t\tmax_ejection_time 30s\n\t\t}\n", "Caddyfile:5:4: max_ejection_time: 30s is less than base_ejection_time 1m0s"},
		{"outlier min requests", "\t\toutlier {\n\t\t\tmin_requests 0\n\t\t}\n", "Caddyfile:4:17: min_requests: 0 is out of range 1..1000000"},
		{"health body regexp", "\t\thealth_uri /h\n\t\thealth_body \"(UP\"\n", "Caddyfile:4:15: health_body: \"(UP\" is not a regular expression"},
		{"health body without checks", "\t\thealth_body UP\n", "Caddyfile:3:3: health_body: active checks are off; add health_uri (or health_port)"},
		{"health body with HEAD", "\t\thealth_uri /h\n\t\thealth_method HEAD\n\t\thealth_body UP\n", "Caddyfile:5:3: health_body: an answer to health_method HEAD has no body"},
		{"health method", "\t\thealth_uri /h\n\t\thealth_method get\n", `Caddyfile:4:17: health_method: "get" is not an HTTP method`},
		{"health headers no block", "\t\thealth_uri /h\n\t\thealth_headers\n", "Caddyfile:4:3: health_headers: want a block of header fields"},
		{"health headers bad name", "\t\thealth_uri /h\n\t\thealth_headers {\n\t\t\t\"X A\" b\n\t\t}\n", `Caddyfile:5:4: health_headers: "X A" is not a header field name`},
		{"health headers twice", "\t\thealth_uri /h\n\t\thealth_headers {\n\t\t\tX-A 1\n\t\t\tx-a 2\n\t\t}\n", "Caddyfile:6:4: health_headers: x-a is set twice (first at Caddyfile:5:4)"},
		{"health headers host values", "\t\thealth_uri /h\n\t\thealth_headers {\n\t\t\tHost a b\n\t\t}\n", "Caddyfile:5:4: health_headers: Host wants exactly one value"},
		{"health status several bad", "\t\thealth_status 2xx 6xx\n", `Caddyfile:3:21: health_status: "6xx": want a status such as 200 or a class such as 2xx`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("Caddyfile", []byte("example.com {\n\treverse_proxy a=http://127.0.0.1:1 b=http://127.0.0.1:2 {\n"+tc.opts+"\t}\n}\n"))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v; want %s", tc.opts, err, tc.want)
			}
		})
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

// TestProtectOptions: max_conns (and Caddy's spellings), its queue and
// slow_start parse into the balancer, the queue gets its defaults once a
// member has a limit, and mistakes are reported where they are written.
func TestProtectOptions(t *testing.T) {
	parse := func(body string) (*Balancer, error) {
		cfg, err := ParseOptions{LookupEnv: envOf(nil)}.Parse("Caddyfile", []byte("a.com {\n\treverse_proxy {\n"+body+"\n\t}\n}"))
		if err != nil {
			return nil, err
		}
		return cfg.Sites[0].Balancers[0], nil
	}
	for _, tc := range []struct {
		name, body string
		check      func(*Balancer) bool
		wantErr    string
	}{
		{name: "none", body: "\t\tto http://x", check: func(b *Balancer) bool {
			return b.MaxConns == 0 && b.MaxQueue == 0 && b.QueueTimeout == 0 && b.SlowStart == 0
		}},
		{name: "max_conns with defaults", body: "\t\tto http://x\n\t\tmax_conns 8", check: func(b *Balancer) bool {
			return b.MaxConns == 8 && b.MaxQueue == DefaultMaxQueue && b.QueueTimeout == DefaultQueueTimeout
		}},
		{name: "all", body: "\t\tto http://x\n\t\tmax_conns 8\n\t\tmax_queue 50\n\t\tqueue_timeout 2s\n\t\tslow_start 30s", check: func(b *Balancer) bool {
			return b.MaxConns == 8 && b.MaxQueue == 50 && b.QueueTimeout == 2*time.Second && b.SlowStart == 30*time.Second
		}},
		{name: "caddy max_requests", body: "\t\tto http://x\n\t\tmax_requests 3", check: func(b *Balancer) bool { return b.MaxConns == 3 }},
		{name: "caddy unhealthy_request_count", body: "\t\tto http://x\n\t\tunhealthy_request_count 4", check: func(b *Balancer) bool { return b.MaxConns == 4 }},
		{name: "backend max_conns", body: "\t\tbackend t1 http://x {\n\t\t\tmax_conns 2\n\t\t}\n\t\tto http://y", check: func(b *Balancer) bool {
			return b.Members[0].MaxConns == 2 && b.Members[1].MaxConns == 0 && b.MaxConns == 0 && b.MaxQueue == DefaultMaxQueue &&
				b.EffectiveMaxConns(&b.Members[0]) == 2 && b.EffectiveMaxConns(&b.Members[1]) == 0
		}},
		{name: "zero", body: "\t\tto http://x\n\t\tmax_conns 0", wantErr: "Caddyfile:4:13: max_conns: 0 is out of range 1..1048576"},
		{name: "twice through an alias", body: "\t\tto http://x\n\t\tmax_conns 2\n\t\tmax_requests 3", wantErr: "Caddyfile:5:3: max_requests is set twice"},
		{name: "queue without limit", body: "\t\tto http://x\n\t\tmax_queue 5", wantErr: "Caddyfile:2:2: balancer a.com-1: max_queue and queue_timeout need max_conns"},
		{name: "bad queue_timeout", body: "\t\tto http://x\n\t\tmax_conns 1\n\t\tqueue_timeout soon", wantErr: "Caddyfile:5:17: queue_timeout:"},
		{name: "slow_start too short", body: "\t\tto http://x\n\t\tslow_start 1ms", wantErr: "Caddyfile:4:14: slow_start: 1ms is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := parse(tc.body)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v; want prefix %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(b) {
				t.Errorf("balancer = %s", dump(b))
			}
		})
	}
}

// TestImportJKApacheChildren: apache_children multiplies
// connection_pool_size into the member's max_conns.
func TestImportJKApacheChildren(t *testing.T) {
	jk := ImportJK{Workers: "w.properties", ApacheChildren: 3}
	imp, err := loadJKWith(jk, []byte("worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a\nworker.a.type=ajp13\nworker.a.host=h\nworker.a.port=8009\nworker.a.connection_pool_size=10\n"), nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := imp.Balancers[0].Members[0].MaxConns; got != 30 {
		t.Errorf("max_conns = %d; want 30 (10 × 3 children)", got)
	}
	if w := warningsText(imp.Warnings); !strings.Contains(w, "with 3 children (import_jk's apache_children) mod_jk sends member a at most 10×3 = 30 requests at once") {
		t.Errorf("warnings = %s", w)
	}
	n := &node{args: []token{{text: "import_jk"}, {text: "w.properties", pos: Pos{File: "/etc/Caddyfile"}}}, block: []*node{{args: []token{{text: "apache_children"}, {text: "6"}}}}}
	got, err := importJK(n)
	if err != nil || got.ApacheChildren != 6 {
		t.Errorf("importJK(apache_children 6) = %+v, %v", got, err)
	}
}

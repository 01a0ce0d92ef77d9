package config

import (
	"strings"
	"testing"
	"time"
)

// TestCaddySpellings: Caddy's names of reverse_proxy options mean Tether's
// options, and setting both spellings is an error.
func TestCaddySpellings(t *testing.T) {
	parse := func(opts string) (*Config, error) {
		return Parse("Caddyfile", []byte("example.com {\n\treverse_proxy a=http://127.0.0.1:1 b=http://127.0.0.1:2 {\n"+opts+"\t}\n}\n"))
	}
	cfg, err := parse("\t\tlb_policy least_conn\n\t\tlb_retries 3\n\t\tfail_duration 45s\n\t\thealth_path /up\n\t\thealth_status 2xx\n\t\tlb_try_duration 5s\n")
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Sites[0].Balancers[0]
	if b.LBPolicy != "least_busy" || b.Retries != 3 || b.RecoverTime != 45*time.Second || b.HealthURI != "/up" || len(b.HealthStatus) != 1 || b.HealthStatus[0] != "2xx" || b.TryDuration != 5*time.Second {
		t.Errorf("balancer %+v; want least_busy, retries 3, recover_time 45s, health_uri /up, health_status 2xx", b)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings %v; want none (lb_try_duration is honoured)", cfg.Warnings)
	}
	for _, tc := range []struct{ opts, mode, cookie string }{
		{"\t\tlb_policy cookie\n", "cookie", "lb"},
		{"\t\tlb_policy cookie srv_id\n", "cookie", "srv_id"},
	} {
		cfg, err := parse(tc.opts)
		if err != nil {
			t.Errorf("%q: %v", tc.opts, err)
			continue
		}
		if st := cfg.Sites[0].Balancers[0].Sticky; st.Mode != tc.mode || st.Cookie != tc.cookie {
			t.Errorf("%q: sticky %+v; want %s %s", tc.opts, st, tc.mode, tc.cookie)
		}
	}
	for _, tc := range []struct{ opts, wantErr string }{
		{"\t\tretries 1\n\t\tlb_retries 2\n", "Caddyfile:4:3: lb_retries is set twice (first at Caddyfile:3:3)"},
		{"\t\thealth_uri /a\n\t\thealth_path /b\n", "health_path is set twice"},
		{"\t\tlb_policy cookie\n\t\tsticky jvmroute\n", "sticky: the balancer already has lb_policy cookie"},
		{"\t\tlb_policy uri_hash x\n", `lb_policy uri_hash: unexpected argument "x"`},
		{"\t\tlb_policy header\n", "lb_policy header: want a header field whose value is hashed"},
		{"\t\tlb_policy query q {\n\t\t\tfallback header\n\t\t}\n", `fallback: unknown fallback policy "header"`},
		{"\t\tlb_policy header X {\n\t\t\tmax_age 1h\n\t\t}\n", `unknown lb_policy header option "max_age" (want fallback)`},
		{"\t\tlb_policy random_choose 1\n", "lb_policy: 1 is out of range 2..64"},
		{"\t\tlb_policy weighted_round_robin 1\n", "Caddyfile:3:34: lb_policy weighted_round_robin: 1 weight(s) for 2 member(s)"},
		{"\t\tlb_policy weighted_round_robin 1 2 3\n", "Caddyfile:3:38: lb_policy weighted_round_robin: 3 weight(s) for 2 member(s)"},
		{"\t\tlb_policy weighted_round_robin 0 0\n", "want at least one weight above 0"},
		{"\t\tlb_policy weighted_round_robin 1 -2\n", `weight "-2": want a whole number`},
		{"\t\tlb_policy round_robin {\n\t\t}\n", "lb_policy takes no block"},
		{"\t\tlb_policy cookie a b c\n", `lb_policy cookie: unexpected argument "c"`},
		{"\t\tlb_policy cookie {\n\t\t\tmax_age 0s\n\t\t}\n", "max_age: 0s is out of range 1s..400 days"},
		{"\t\tsticky cookie S {\n\t\t\tsamesite none\n\t\t\tsecure off\n\t\t}\n", "samesite none: browsers drop such a cookie without Secure"},
		{"\t\tsticky cookie S {\n\t\t\tsamesite loose\n\t\t}\n", `samesite: unknown value "loose" (want lax, strict or none)`},
		{"\t\tsticky cookie S {\n\t\t\tdomain a/b\n\t\t}\n", `domain: "a/b" is not a domain name`},
		{"\t\tsticky learn S {\n\t\t\tmax_age 1h\n\t\t}\n", "sticky takes no block"},
		{"\t\tflush_interval soon\n", "flush_interval:"},
		{"\t\tflush_interval 2h\n", "flush_interval: 2h is out of range 1ms..1m (or -1)"},
		{"\t\thealth_status ok\n", `health_status: "ok": want a status such as 200 or a class such as 2xx`},
		{"\t\tlb_policy round_robin extra\n", `lb_policy round_robin: unexpected argument "extra"`},
	} {
		if _, err := parse(tc.opts); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v; want %q", tc.opts, err, tc.wantErr)
		}
	}
}

func TestRequestBody(t *testing.T) {
	cfg, err := Parse("Caddyfile", []byte("example.com {\n\trequest_body {\n\t\tmax_size 10MB\n\t}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Sites[0].Limits; l == nil || l.MaxBodySize != 10_000_000 || l.HeaderTimeout != cfg.Global.Limits.HeaderTimeout {
		t.Errorf("limits %+v; want the global ones with max_body_size 10MB", l)
	}
	for _, tc := range []struct{ src, wantErr string }{
		{"\trequest_body\n", "request_body: want a block with max_size"},
		{"\trequest_body {\n\t\tmax_size 0\n\t}\n", "max_size: want more than 0 bytes"},
		{"\trequest_body {\n\t\tmax_bytes 1\n\t}\n", "unknown request_body option"},
	} {
		if _, err := Parse("Caddyfile", []byte("example.com {\n"+tc.src+"}\n")); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v; want %q", tc.src, err, tc.wantErr)
		}
	}
}

// TestTLSEmail: Caddy's tls EMAIL is ACME with that account for the site.
func TestTLSEmail(t *testing.T) {
	cfg, err := Parse("Caddyfile", []byte("shop.example.com {\n\ttls ops@example.com\n\treverse_proxy 127.0.0.1:1\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tl := cfg.Sites[0].TLS; tl == nil || tl.Mode != "auto" || tl.Email != "ops@example.com" {
		t.Errorf("tls %+v; want auto with email ops@example.com", tl)
	}
}

func TestHeaderUpDownOptions(t *testing.T) {
	cfg, err := Parse("Caddyfile", []byte("example.com {\n\treverse_proxy 127.0.0.1:1 {\n\t\theader_up Host {upstream_hostport}\n\t\theader_up -Authorization\n\t\theader_down -Server\n\t}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Sites[0].Balancers[0]
	if len(b.HeaderUp) != 2 || b.HeaderUp[0].Field != "Host" || b.HeaderUp[0].Template == nil || b.HeaderUp[1].Op != "delete" ||
		len(b.HeaderDown) != 1 || b.HeaderDown[0].Field != "Server" {
		t.Errorf("header_up %+v, header_down %+v", b.HeaderUp, b.HeaderDown)
	}
	if _, err := Parse("Caddyfile", []byte("example.com {\n\treverse_proxy 127.0.0.1:1 {\n\t\theader_up X-A {nope}\n\t}\n}\n")); err == nil || !strings.Contains(err.Error(), "Caddyfile:3:17: unknown placeholder {nope}") {
		t.Errorf("unknown placeholder: %v", err)
	}
}

// TestSiteLog: Caddy's site-level log is the site's access log.
func TestSiteLog(t *testing.T) {
	for _, tc := range []struct {
		body, output, format string
		warnings             int
		none                 bool
	}{
		{body: "\tlog", output: "stderr", format: "json"},
		{body: "\tlog {\n\t\toutput stdout\n\t\tformat console\n\t}", output: "stdout", format: "console"},
		{body: "\tlog {\n\t\toutput file /var/log/shop.log {\n\t\t\troll_size 10mb\n\t\t}\n\t\tlevel INFO\n\t}", output: "/var/log/shop.log", format: "json", warnings: 2},
		{body: "\tlog {\n\t\toutput discard\n\t}", none: true},
	} {
		cfg, err := Parse("Caddyfile", []byte("example.com {\n"+tc.body+"\n}\n"))
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		al := cfg.Sites[0].AccessLog
		if tc.none {
			if al != nil {
				t.Errorf("%q: access log %+v; want none", tc.body, al)
			}
			continue
		}
		if al == nil || al.Output != tc.output || al.Format != tc.format || len(cfg.Warnings) != tc.warnings {
			t.Errorf("%q: access log %+v, warnings %v; want %s %s and %d warnings", tc.body, al, cfg.Warnings, tc.output, tc.format, tc.warnings)
		}
	}
	for _, tc := range []struct{ body, wantErr string }{
		{"\taccess_log\n\tlog", "log: the site already has an access log"},
		{"\tlog {\n\t\toutput net 10.0.0.1:514\n\t}", `log: output "net": want stdout, stderr, discard or file PATH`},
		{"\tlog {\n\t\tformat transform\n\t}", `log: format "transform": want json, console or filter { wrap json|console }`},
		{"\tlog {\n\t\tformat filter {\n\t\t\twrap logfmt\n\t\t}\n\t}", `log: format "logfmt": want json, console or filter`},
	} {
		if _, err := Parse("Caddyfile", []byte("example.com {\n"+tc.body+"\n}\n")); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v; want %q", tc.body, err, tc.wantErr)
		}
	}
}

// TestCaddyProxyOptions: Caddy's reverse_proxy options beyond the
// spellings: unhealthy_status (fail_on_status, classes too), tuning
// options accepted with a warning, and those refused with what to write.
func TestCaddyProxyOptions(t *testing.T) {
	parse := func(opts string) (*Config, error) {
		return Parse("Caddyfile", []byte("example.com {\n\treverse_proxy a=http://127.0.0.1:1 {\n"+opts+"\t}\n}\n"))
	}
	cfg, err := parse("\t\tunhealthy_status 429 5xx\n\t\tmax_buffer_size 1m\n\t\tstream_timeout 1h\n")
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Sites[0].Balancers[0].FailOnStatus; len(f) != 101 || f[0] != 429 || f[1] != 500 || f[100] != 599 {
		t.Errorf("unhealthy_status 429 5xx: fail_on_status %v; want 429 and 500..599", f)
	}
	if len(cfg.Warnings) != 2 || !strings.Contains(cfg.Warnings[0].String(), "Caddyfile:4:3: warning: max_buffer_size is not honoured") {
		t.Errorf("warnings %v; want max_buffer_size and stream_timeout", cfg.Warnings)
	}
	for _, tc := range []struct{ opts, wantErr string }{
		{"\t\tfail_on_status 502\n\t\tunhealthy_status 503\n", "unhealthy_status is set twice"},
		{"\t\thandle_response @nope {\n\t\t}\n", "handle_response: no response matcher named @nope is defined in this reverse_proxy block"},
		{"\t\ttrusted_proxies private_ranges\n", "trusted_proxies belongs in the site block in Tether"},
		{"\t\thealth_port 90000\n", "health_port: 90000 is out of range 1..65535"},
	} {
		if _, err := parse(tc.opts); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: error %v; want %q", tc.opts, err, tc.wantErr)
		}
	}
	// Caddy's other placeholders.
	cfg, err = Parse("Caddyfile", []byte("example.com {\n\trespond \"{port} {remote} {client_ip} {cookie.sid} {http.request.port} {http.vars.client_ip}\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, p := range cfg.Sites[0].Responds[0].Body.Parts {
		if p.Var != "" {
			vars = append(vars, p.Var+p.Arg)
		}
	}
	if got := strings.Join(vars, " "); got != "port remote client_ip cookiesid port client_ip" {
		t.Errorf("placeholders %q; want port remote client_ip cookie(sid) port client_ip", got)
	}
}

// TestHealthPort: Caddy's health_port sends active checks to another
// port of the member; alone it checks / (Caddy enables active checks with
// either).
func TestHealthPort(t *testing.T) {
	for _, tc := range []struct {
		opts, uri string
		port      int
	}{
		{"\t\thealth_uri /health\n\t\thealth_port 9000\n", "/health", 9000},
		{"\t\thealth_port 80\n", "/", 80},
		{"\t\thealth_uri /h\n", "/h", 0},
	} {
		cfg, err := Parse("Caddyfile", []byte("example.com {\n\treverse_proxy a=http://127.0.0.1:1 {\n"+tc.opts+"\t}\n}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if b := cfg.Sites[0].Balancers[0]; b.HealthURI != tc.uri || b.HealthPort != tc.port {
			t.Errorf("%q: health_uri %q, health_port %d; want %q, %d", tc.opts, b.HealthURI, b.HealthPort, tc.uri, tc.port)
		}
	}
}

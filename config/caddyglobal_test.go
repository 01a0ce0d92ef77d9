package config

import (
	"strings"
	"testing"
	"time"
)

// TestCaddyGlobalOptions: Caddy's global options map onto Tether's
// settings (the golden file caddyglobal.Caddyfile shows a whole block);
// these are the rules around them and their errors.
func TestCaddyGlobalOptions(t *testing.T) {
	parse := func(global, sites string) (*Config, error) {
		return ParseOptions{LookupEnv: envOf(map[string]string{"UP": "10.0.0.9:80", "BRACES": "{a} b"})}.
			Parse("Caddyfile", []byte("{\n"+global+"}\n"+sites))
	}
	for _, tc := range []struct {
		name, global, sites string
		check               func(t *testing.T, c *Config)
	}{
		{"debug wins over a level", "\tlog {\n\t\tlevel ERROR\n\t}\n\tdebug\n", "", func(t *testing.T, c *Config) {
			if c.Global.Log.Level != "debug" {
				t.Errorf("level %q; want debug", c.Global.Log.Level)
			}
		}},
		{"caddy level names", "\tlog default {\n\t\tlevel WARN\n\t\toutput stdout\n\t}\n", "", func(t *testing.T, c *Config) {
			if l := c.Global.Log; l.Level != "warn" || l.Output != "stdout" {
				t.Errorf("log %+v; want warn to stdout", l)
			}
		}},
		{"grace period and shutdown delay", "\tgrace_period 1m\n\tshutdown_delay 10s\n", "", func(t *testing.T, c *Config) {
			if c.Global.ShutdownTimeout != time.Minute || c.Global.DrainDelay != 10*time.Second {
				t.Errorf("shutdown_timeout %v, drain_delay %v; want 1m, 10s", c.Global.ShutdownTimeout, c.Global.DrainDelay)
			}
		}},
		{"local certs", "\tlocal_certs\n", "shop.example.com {\n\trespond ok\n}\nhttps://b.example.com {\n\ttls /c.pem /k.pem\n\trespond ok\n}\n", func(t *testing.T, c *Config) {
			if tl := c.Sites[0].TLS; tl == nil || tl.Mode != "internal" || tl.Pos.Line != 2 {
				t.Errorf("site without tls under local_certs: tls %+v; want internal from line 2", tl)
			}
			if tl := c.Sites[1].TLS; tl.Mode != "files" {
				t.Errorf("site with its own tls under local_certs: %q; want files", tl.Mode)
			}
		}},
		{"auto_https off with named certificates", "\tauto_https off\n", "http://a.example.com {\n\trespond ok\n}\nb.example.com {\n\ttls internal\n\trespond ok\n}\n", func(t *testing.T, c *Config) {
			if c.Global.AutoHTTPS != "off" {
				t.Errorf("auto_https %q; want off", c.Global.AutoHTTPS)
			}
		}},
		{"servers by port", "\tservers :8443 {\n\t\ttimeouts {\n\t\t\tread_body 3s\n\t\t}\n\t\ttrusted_proxies static 10.0.0.0/8\n\t}\n",
			"https://a.example.com:8443 {\n\trespond ok\n}\nhttps://b.example.com {\n\trespond ok\n}\nhttps://c.example.com:8443 {\n\tlimits {\n\t\twrite_timeout 9s\n\t}\n\trespond ok\n}\n",
			func(t *testing.T, c *Config) {
				a, b, cc := c.Sites[0], c.Sites[1], c.Sites[2]
				if a.Limits == nil || a.Limits.BodyTimeout != 3*time.Second || len(a.TrustedProxies) != 1 {
					t.Errorf("site on :8443: limits %+v, trusted %v; want body_timeout 3s, 10.0.0.0/8", a.Limits, a.TrustedProxies)
				}
				if b.Limits != nil || len(b.TrustedProxies) != 0 {
					t.Errorf("site on :443: limits %+v, trusted %v; want the global ones", b.Limits, b.TrustedProxies)
				}
				if cc.Limits.BodyTimeout != 3*time.Second || cc.Limits.WriteTimeout != 9*time.Second {
					t.Errorf("site on :8443 with limits: %+v; want body_timeout 3s from servers, write_timeout 9s its own", cc.Limits)
				}
				if so := c.Global.ServerFor("127.0.0.1:8443"); so == nil || so.Listen != ":8443" {
					t.Errorf("ServerFor(127.0.0.1:8443) = %+v; want the :8443 block", so)
				}
				if so := c.Global.ServerFor(":443"); so != nil {
					t.Errorf("ServerFor(:443) = %+v; want none", so)
				}
			}},
		{"env placeholders", "", "http://a.example.com {\n\treverse_proxy {env.UP}\n\trespond /x \"{env.BRACES} {env.UNSET}|\"\n}\n", func(t *testing.T, c *Config) {
			if m := c.Sites[0].Balancers[0].Members[0]; m.URL != "http://10.0.0.9:80" {
				t.Errorf("reverse_proxy {env.UP}: member %s; want http://10.0.0.9:80", m.URL)
			}
			if b := c.Sites[0].Responds[0].Body; len(b.Parts) != 1 || b.Parts[0].Lit != "{a} b |" {
				t.Errorf("respond {env.BRACES} {env.UNSET}: body %+v; want the literal text {a} b |", b.Parts)
			}
		}},
		{"warnings", "\tpersist_config off\n\tskip_install_trust\n\tadmin unix//run/caddy.sock\n\tservers {\n\t\tname main\n\t}\n", "", func(t *testing.T, c *Config) {
			var got []string
			for _, w := range c.Warnings {
				got = append(got, w.String())
			}
			want := []string{"Caddyfile:2:2: warning: persist_config is not honoured", "Caddyfile:3:2: warning: skip_install_trust is not honoured",
				"Caddyfile:4:8: warning: admin: a unix socket is not supported", "Caddyfile:6:3: warning: servers: name is not honoured"}
			if len(got) != len(want) {
				t.Fatalf("warnings %q; want %d", got, len(want))
			}
			for i := range want {
				if !strings.HasPrefix(got[i], want[i]) {
					t.Errorf("warning %q; want it to start %q", got[i], want[i])
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(tc.global, tc.sites)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}

	for _, tc := range []struct{ global, sites, wantErr string }{
		{"\tauto_https off\n", "shop.example.com {\n\trespond ok\n}\n", "Caddyfile:4:1: site shop.example.com is served over HTTPS, but auto_https off (at Caddyfile:2:2) leaves it without a certificate: write http://shop.example.com"},
		{"\tauto_https disable_certs\n", "localhost:8443 {\n\trespond ok\n}\n", "auto_https disable_certs (at Caddyfile:2:2) leaves it without a certificate"},
		{"\tauto_https sometimes\n", "", `auto_https: unknown mode "sometimes"`},
		{"\tgrace_period 1m\n\tshutdown_timeout 2m\n", "", "shutdown_timeout is set twice (first at Caddyfile:2:2)"},
		{"\tshutdown_timeout 2m\n\tgrace_period 1m\n", "", "grace_period is Caddy's name of shutdown_timeout, already set at Caddyfile:2:2"},
		{"\tshutdown_delay 2h\n", "", "drain_delay: 2h0m0s is out of range 0s..1h0m0s (shutdown_delay)"},
		{"\tdefault_bind 10.0.0.1\n", "", "default_bind is not supported: give the IP in the site address"},
		{"\ton_demand_tls {\n\t\tinterval 1m\n\t}\n", "", "on_demand_tls: want ask URL"},
		{"\ton_demand_tls {\n\t\tpermission consul\n\t}\n", "", "permission consul is a Caddy plugin"},
		{"", "a.example.com {\n\ttls {\n\t\ton_demand\n\t}\n}\n", "Caddyfile:5:3: on_demand: needs ask URL (in the tls block, or the global on_demand_tls)"},
		{"\tservers {\n\t\ttimeouts {\n\t\t\tread_header 1ms\n\t\t}\n\t}\n", "", "read_header (Tether's header_timeout): 1ms is out of range 100ms..1h"},
		{"\tservers {\n\t\ttimeouts {\n\t\t\twrite_body 1s\n\t\t}\n\t}\n", "", `unknown timeouts option "write_body"`},
		{"\tservers {\n\t\tprotocols h4\n\t}\n", "", `protocols: unknown protocol "h4" (want h1, h2, h2c or h3)`},
		{"\tservers {\n\t\ttrusted_proxies cloudflare\n\t}\n", "", "trusted_proxies: cloudflare is a Caddy plugin"},
		{"\tservers {\n\t\tlistener_wrappers {\n\t\t\tproxy_protocol {\n\t\t\t\ttimeout 2s\n\t\t\t}\n\t\t}\n\t}\n", "", "proxy_protocol: want allow RANGES"},
		{"\tservers {\n\t\tlistener_wrappers {\n\t\t\tlayer4\n\t\t}\n\t}\n", "", "listener_wrappers: layer4 is a Caddy plugin or not supported"},
		{"\tservers :80 {\n\t}\n\tservers :80 {\n\t}\n", "", "servers for :80 is already set at Caddyfile:2:2"},
		{"\tservers nowhere {\n\t}\n", "", `servers: "nowhere" is not a listener address`},
		{"\tlog {\n\t\toutput net localhost:514\n\t}\n", "", `log: output "net": want stdout, stderr, discard or file PATH (net is a Caddy module)`},
		{"\tlog {\n\t\tlevel chatty\n\t}\n", "", `level: unknown level "chatty"`},
		{"\tlog {\n\t}\n\tlog default {\n\t}\n", "", "log is set twice (first at Caddyfile:2:2)"},
		{"\tstorage redis {\n\t}\n", "", "Caddy's other storage modules are plugins"},
		{"\tfilesystem x y\n", "", "filesystem: Caddy's file system modules are plugins"},
	} {
		if _, err := parse(tc.global, tc.sites); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q %q: error %v; want %q", tc.global, tc.sites, err, tc.wantErr)
		}
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

// TestTransportErrors: every transport http option refuses bad input at its
// file:line:col, and Caddy's and Tether's spellings of one option do not
// mix.
func TestTransportErrors(t *testing.T) {
	rp := func(members, block string) string {
		return "a.com {\n\treverse_proxy " + members + " {\n" + block + "\t}\n}\n"
	}
	tr := func(opts string) string { return rp("http://x", "\t\ttransport http {\n"+opts+"\t\t}\n") }
	for _, tc := range []struct{ name, src, want string }{
		{"fastcgi", rp("http://x", "\t\ttransport fastcgi {\n\t\t\troot /srv\n\t\t}\n"), "Caddyfile:3:13: transport fastcgi (FastCGI to PHP-FPM) is not supported"},
		{"unknown transport", rp("http://x", "\t\ttransport gopher\n"), `Caddyfile:3:13: transport: unknown transport "gopher" (want http)`},
		{"transport without name", rp("http://x", "\t\ttransport\n"), "Caddyfile:3:3: transport: want 1 argument(s), got 0"},
		{"transport twice", rp("http://x", "\t\ttransport http\n\t\ttransport http\n"), "Caddyfile:4:3: transport is set twice (first at Caddyfile:3:3)"},
		{"unknown option", tr("\t\t\tdial_timout 1s\n"), `Caddyfile:4:4: unknown transport http option "dial_timout"`},
		{"option twice", tr("\t\t\tversions 1.1\n\t\t\tversions 2\n"), "Caddyfile:5:4: versions is set twice (first at Caddyfile:4:4)"},
		{"unsupported resolvers", tr("\t\t\tresolvers 1.1.1.1\n"), "Caddyfile:4:4: transport http: resolvers is not supported: members are resolved by the system resolver"},
		{"unsupported proxy_protocol", tr("\t\t\tproxy_protocol v2\n"), "transport http: proxy_protocol is not supported"},
		{"unsupported local_address", tr("\t\t\tlocal_address 10.0.0.1\n"), "transport http: local_address is not supported"},
		{"unsupported tls_curves", tr("\t\t\ttls_curves x25519\n"), "transport http: tls_curves is not supported"},

		// The aliases of the balancer's own options.
		{"dial_timeout both ways", rp("http://x", "\t\tdial_timeout 1s\n\t\ttransport http {\n\t\t\tdial_timeout 2s\n\t\t}\n"), "Caddyfile:5:4: dial_timeout is set twice (first at Caddyfile:3:3)"},
		{"dial_timeout both ways, transport first", rp("http://x", "\t\ttransport http {\n\t\t\tdial_timeout 2s\n\t\t}\n\t\tdial_timeout 1s\n"), "Caddyfile:6:3: dial_timeout is set twice (first at Caddyfile:4:4)"},
		{"response_header_timeout both ways", rp("http://x", "\t\tresponse_header_timeout 1s\n\t\ttransport http {\n\t\t\tresponse_header_timeout 2s\n\t\t}\n"), "Caddyfile:5:4: response_header_timeout is set twice (first at Caddyfile:3:3)"},
		{"keepalive and idle_timeout", rp("http://x", "\t\tidle_timeout 1m\n\t\ttransport http {\n\t\t\tkeepalive 2m\n\t\t}\n"), "Caddyfile:5:4: keepalive is set twice (first at Caddyfile:3:3 as idle_timeout)"},
		{"keepalive_idle_conns_per_host and max_idle_conns", rp("http://x", "\t\ttransport http {\n\t\t\tkeepalive_idle_conns_per_host 8\n\t\t}\n\t\tmax_idle_conns 16\n"), "Caddyfile:6:3: max_idle_conns is set twice (first at Caddyfile:4:4)"},

		// Values.
		{"dial_timeout value", tr("\t\t\tdial_timeout 2\n"), `Caddyfile:4:17: dial_timeout: bad duration "2"`},
		{"dial_timeout range", tr("\t\t\tdial_timeout 1h\n"), "Caddyfile:4:17: dial_timeout: 1h0m0s is out of range 10ms..10m0s"},
		{"response_header_timeout value", tr("\t\t\tresponse_header_timeout soon\n"), `Caddyfile:4:28: response_header_timeout: bad duration "soon"`},
		{"keepalive value", tr("\t\t\tkeepalive on\n"), `Caddyfile:4:14: keepalive: bad duration "on"`},
		{"keepalive range", tr("\t\t\tkeepalive 1ms\n"), "Caddyfile:4:14: keepalive: 1ms is out of range 100ms..24h0m0s"},
		{"keepalive_interval range", tr("\t\t\tkeepalive_interval 10ms\n"), "Caddyfile:4:23: keepalive_interval: 10ms is out of range 1s..24h0m0s"},
		{"keepalive_idle_conns value", tr("\t\t\tkeepalive_idle_conns many\n"), `Caddyfile:4:25: keepalive_idle_conns: "many" is not a whole number`},
		{"keepalive_idle_conns_per_host range", tr("\t\t\tkeepalive_idle_conns_per_host 0\n"), "Caddyfile:4:34: keepalive_idle_conns_per_host: 0 is out of range 1..1048576"},
		{"max_conns_per_host range", tr("\t\t\tmax_conns_per_host -1\n"), "Caddyfile:4:23: max_conns_per_host: -1 is out of range 1..1048576"},
		{"read_buffer size", tr("\t\t\tread_buffer 4XB\n"), `Caddyfile:4:16: read_buffer: bad size "4XB"`},
		{"write_buffer range", tr("\t\t\twrite_buffer 1GiB\n"), "Caddyfile:4:17: write_buffer: 1073741824 is out of range 512..16777216"},
		{"max_response_header range", tr("\t\t\tmax_response_header 100\n"), "Caddyfile:4:24: max_response_header: 100 is out of range 512..16777216"},
		{"expect_continue_timeout value", tr("\t\t\texpect_continue_timeout 0\n"), "Caddyfile:4:28: expect_continue_timeout: must be more than 0"},
		{"read_timeout value", tr("\t\t\tread_timeout 5x\n"), `Caddyfile:4:17: read_timeout: bad duration "5x"`},
		{"write_timeout range", tr("\t\t\twrite_timeout 1ns\n"), "Caddyfile:4:18: write_timeout: 1ns is out of range 10ms..24h0m0s"},
		{"dial_fallback_delay value", tr("\t\t\tdial_fallback_delay -x\n"), `Caddyfile:4:24: dial_fallback_delay: bad duration "-x"`},
		{"dial_fallback_delay range", tr("\t\t\tdial_fallback_delay 1m\n"), "Caddyfile:4:24: dial_fallback_delay: 1m0s is out of range 1ms..10s"},
		{"compression on", tr("\t\t\tcompression on\n"), `Caddyfile:4:16: compression: want off, got "on"`},
		{"compression bare", tr("\t\t\tcompression\n"), "Caddyfile:4:4: compression: want 1 argument(s), got 0"},
		{"versions 3", tr("\t\t\tversions 1.1 3\n"), "Caddyfile:4:17: versions: HTTP/3 to members is not supported"},
		{"versions unknown", tr("\t\t\tversions 1.0\n"), `Caddyfile:4:13: versions: unknown version "1.0" (want 1.1, 2 or h2c)`},
		{"versions twice", tr("\t\t\tversions 2 2\n"), "Caddyfile:4:15: versions: 2 is listed twice"},
		{"versions empty", tr("\t\t\tversions\n"), "Caddyfile:4:4: versions: want at least 1 argument(s), got 0"},
		{"tls with an argument", tr("\t\t\ttls on\n"), `Caddyfile:4:8: tls: unexpected argument "on"`},
		{"tls_insecure_skip_verify argument", tr("\t\t\ttls_insecure_skip_verify yes\n"), `tls_insecure_skip_verify: unexpected argument "yes"`},
		{"tls_server_name empty", tr("\t\t\ttls_server_name \"\"\n"), "Caddyfile:4:20: tls_server_name: empty value"},
		{"tls_timeout value", tr("\t\t\ttls_timeout 3\n"), `Caddyfile:4:16: tls_timeout: bad duration "3"`},
		{"tls_renegotiation level", tr("\t\t\ttls_renegotiation always\n"), `Caddyfile:4:22: tls_renegotiation: unknown level "always" (want never, once or freely)`},
		{"tls_except_ports value", tr("\t\t\ttls_except_ports 80 http\n"), `Caddyfile:4:24: tls_except_ports: "http" is not a whole number`},
		{"tls_trusted_ca_certs missing file", tr("\t\t\ttls_trusted_ca_certs testdata/transport/nope.pem\n"), "Caddyfile:4:25: tls_trusted_ca_certs: "},
		{"tls_trusted_ca_certs not PEM", tr("\t\t\ttls_trusted_ca_certs testdata/transport.Caddyfile\n"), "Caddyfile:4:25: tls_trusted_ca_certs: testdata/transport.Caddyfile holds no PEM certificate"},
		{"tls_trust_pool source", tr("\t\t\ttls_trust_pool inline abc\n"), `Caddyfile:4:19: tls_trust_pool: source "inline" is not supported (want file PEM_FILE...)`},
		{"tls_trust_pool and tls_trusted_ca_certs", tr("\t\t\ttls_trusted_ca_certs testdata/transport/ca.pem\n\t\t\ttls_trust_pool file testdata/transport/ca.pem\n"), "Caddyfile:5:4: tls_trust_pool: the trusted CAs are already given"},
		{"tls_client_auth automate", tr("\t\t\ttls_client_auth client.example.com\n"), "Caddyfile:4:20: tls_client_auth client.example.com: a certificate Caddy obtains for a name is not supported; give CERT_FILE KEY_FILE"},
		{"tls_client_auth mismatched", tr("\t\t\ttls_client_auth testdata/transport/ca.pem testdata/transport/client.key\n"), "Caddyfile:4:20: tls_client_auth: testdata/transport/ca.pem and testdata/transport/client.key: tls: private key does not match public key"},
		{"tls_client_auth missing key", tr("\t\t\ttls_client_auth testdata/transport/client.crt nope.key\n"), "Caddyfile:4:50: tls_client_auth: "},

		// Members and the transport together.
		{"tls with an http:// member", rp("a=http://x:80 b=y:80", "\t\ttransport http {\n\t\t\ttls\n\t\t}\n"), "Caddyfile:2:16: member a is http:// but transport http at Caddyfile:3:3 has TLS (tls or a tls_* option): write https:// or no scheme"},
		{"tls_server_name with an h2c:// member", rp("h2c://x", "\t\ttransport http {\n\t\t\ttls_server_name x\n\t\t}\n"), "Caddyfile:2:16: member x:80 is h2c:// but transport http at Caddyfile:3:3 has TLS"},
		{"versions 2 on a cleartext member", rp("http://x", "\t\ttransport http {\n\t\t\tversions 2\n\t\t}\n"), "Caddyfile:2:16: member x:80 is http:// (cleartext) but versions at Caddyfile:3:3 has neither 1.1 nor h2c (HTTP/2 without TLS is h2c)"},
		{"versions h2c on a TLS member", rp("https://x", "\t\ttransport http {\n\t\t\tversions h2c\n\t\t}\n"), "Caddyfile:2:16: member x:443 is https:// but versions at Caddyfile:3:3 has neither 1.1 nor 2"},
		{"tls on AJP members", rp("ajp://x", "\t\ttransport http {\n\t\t\tdial_timeout 1s\n\t\t\ttls\n\t\t}\n"), "Caddyfile:5:4: transport http: tls does not apply to ajp:// members (AJP has its own transport: ajp_secret, ajp_packet_size, ajp_ping)"},
		{"versions on AJP members", rp("ajp://x ajp://y", "\t\ttransport http {\n\t\t\tversions 2\n\t\t}\n"), "Caddyfile:4:4: transport http: versions does not apply to ajp:// members"},
		{"read_timeout on AJP members", rp("ajp://x", "\t\ttransport http {\n\t\t\tread_timeout 1s\n\t\t}\n"), "Caddyfile:4:4: transport http: read_timeout does not apply to ajp:// members"},
		{"grpc scheme", rp("grpc://x:50051", ""), `Caddyfile:2:16: reverse_proxy: member URL "grpc://x:50051": scheme "grpc" is not supported: a gRPC member is h2c://host:port (cleartext HTTP/2) or https://host:port`},
		{"h2c member path", rp("h2c://x/app", ""), `Caddyfile:2:16: reverse_proxy: member URL "h2c://x/app": a member URL is scheme://host:port, without path or query`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("Caddyfile", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) && !(strings.Contains(err.Error(), tc.want) && !strings.HasPrefix(tc.want, "Caddyfile:")) {
				t.Errorf("Parse:\n%s\nerror %v; want %q", tc.src, err, tc.want)
			}
		})
	}
}

// TestTransportMembers: how members are reached once the transport block
// is read: tls makes members written without a scheme https:// (port 443
// unless written, names follow), tls_except_ports keeps those ports plain,
// h2c:// members stay h2c, and mixed balancers keep AJP members as they are.
func TestTransportMembers(t *testing.T) {
	for _, tc := range []struct {
		name, members, block string
		want                 []string // name=URL of each member
	}{
		{"no transport", "10.0.0.1:8080 h2c://10.0.0.2", "", []string{"10.0.0.1:8080=http://10.0.0.1:8080", "10.0.0.2:80=h2c://10.0.0.2:80"}},
		{"tls", "10.0.0.1:8443 10.0.0.2 app=10.0.0.3 https://10.0.0.4", "\t\ttransport http {\n\t\t\ttls\n\t\t}\n",
			[]string{"10.0.0.1:8443=https://10.0.0.1:8443", "10.0.0.2:443=https://10.0.0.2:443", "app=https://10.0.0.3:443", "10.0.0.4:443=https://10.0.0.4:443"}},
		{"tls_except_ports", "10.0.0.1:8443 10.0.0.2:8080", "\t\ttransport http {\n\t\t\ttls_except_ports 8080\n\t\t}\n",
			[]string{"10.0.0.1:8443=https://10.0.0.1:8443", "10.0.0.2:8080=http://10.0.0.2:8080"}},
		{"backend without a scheme", "", "\t\tbackend t1 10.0.0.1\n\t\ttransport http {\n\t\t\ttls_insecure_skip_verify\n\t\t}\n", []string{"t1=https://10.0.0.1:443"}},
		{"AJP beside https", "ajp://10.0.0.1 10.0.0.2", "\t\ttransport http {\n\t\t\ttls\n\t\t}\n", []string{"10.0.0.1:8009=ajp://10.0.0.1:8009", "10.0.0.2:443=https://10.0.0.2:443"}},
		{"versions h2c on a bare member", "10.0.0.1:9000", "\t\ttransport http {\n\t\t\tversions h2c\n\t\t}\n", []string{"10.0.0.1:9000=http://10.0.0.1:9000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("Caddyfile", []byte("a.com {\n\treverse_proxy "+tc.members+" {\n"+tc.block+"\t}\n}\n"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range cfg.Sites[0].Balancers[0].Members {
				got = append(got, m.Name+"="+m.URL)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("members %v; want %v", got, tc.want)
			}
		})
	}
}

// TestTransportAliases: Caddy's names of the balancer's own options set the
// same fields as Tether's names.
func TestTransportAliases(t *testing.T) {
	cfg, err := Parse("Caddyfile", []byte("a.com {\n\treverse_proxy http://x {\n\t\ttransport http {\n\t\t\tdial_timeout 2s\n\t\t\tresponse_header_timeout 7s\n\t\t\tkeepalive 45s\n\t\t\tkeepalive_idle_conns_per_host 12\n\t\t}\n\t}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Sites[0].Balancers[0]
	if b.DialTimeout != 2*time.Second || b.ResponseHeaderTimeout != 7*time.Second || b.IdleTimeout != 45*time.Second || b.MaxIdleConns != 12 {
		t.Errorf("balancer dial %v, response header %v, idle %v, idle conns %d; want 2s, 7s, 45s, 12", b.DialTimeout, b.ResponseHeaderTimeout, b.IdleTimeout, b.MaxIdleConns)
	}
}

package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestAWSErrors: every new AWS directive (DNS-01, EAB, discover ec2 in a
// balancer, the agent block) refuses bad input at its file:line:col.
func TestAWSErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		// DNS-01 and EAB.
		{name: "unknown dns provider", src: "a.com {\n\ttls {\n\t\tdns cloudflare\n\t}\n}", want: `Caddyfile:3:7: dns: unknown provider "cloudflare" (want route53)`},
		{name: "dns without provider", src: "a.com {\n\ttls {\n\t\tdns\n\t}\n}", want: "Caddyfile:3:3: dns: want at least 1 argument(s), got 0"},
		{name: "unknown route53 option", src: "a.com {\n\ttls {\n\t\tdns route53 {\n\t\t\taccess_key_id AKIA\n\t\t}\n\t}\n}", want: `Caddyfile:4:4: unknown dns route53 option "access_key_id" (want hosted_zone_id, region or endpoint)`},
		{name: "route53 bad endpoint", src: "a.com {\n\ttls {\n\t\tdns route53 {\n\t\t\tendpoint moto\n\t\t}\n\t}\n}", want: "Caddyfile:4:13: endpoint:"},
		{name: "route53 empty zone", src: "a.com {\n\ttls {\n\t\tdns route53 {\n\t\t\thosted_zone_id \"\"\n\t\t}\n\t}\n}", want: "Caddyfile:4:19: hosted_zone_id: empty value"},
		{name: "dns twice", src: "a.com {\n\ttls {\n\t\tdns route53\n\t\tdns route53\n\t}\n}", want: "Caddyfile:4:3: dns is set twice in the tls block"},
		{name: "dns with challenges", src: "a.com {\n\ttls {\n\t\tchallenges http-01\n\t\tdns route53\n\t}\n}", want: "Caddyfile:4:3: dns: not with challenges"},
		{name: "dns on internal", src: "a.com {\n\ttls internal {\n\t\tdns route53\n\t}\n}", want: "Caddyfile:2:2: tls: dns, resolvers, propagation and eab are for ACME certificates, not tls internal"},
		{name: "bad resolver", src: "a.com {\n\ttls {\n\t\tresolvers ns1.example.com\n\t}\n}", want: `Caddyfile:3:13: resolvers: "ns1.example.com" is not an IP address or IP:port`},
		{name: "bad propagation", src: "a.com {\n\ttls {\n\t\tpropagation_timeout soon\n\t}\n}", want: "Caddyfile:3:23: propagation_timeout: bad duration"},
		{name: "propagation delay -1", src: "a.com {\n\ttls {\n\t\tpropagation_delay -1\n\t}\n}", want: "Caddyfile:3:21: propagation_delay: bad duration"},
		{name: "propagation too long", src: "a.com {\n\ttls {\n\t\tpropagation_timeout 2h\n\t}\n}", want: "Caddyfile:3:23: propagation_timeout: 2h0m0s is out of range 0..1h"},
		{name: "eab one argument", src: "a.com {\n\ttls {\n\t\teab kid\n\t}\n}", want: "Caddyfile:3:3: eab: want 2 argument(s), got 1"},
		{name: "eab bad key", src: "a.com {\n\ttls {\n\t\teab kid not+base64url\n\t}\n}", want: `Caddyfile:3:3: eab: mac_key has '+'`},
		{name: "dns inline token", src: "a.com {\n\ttls {\n\t\tdns route53 KEY\n\t}\n}", want: "Caddyfile:3:15: dns route53: options go in a block"},
		{name: "global acme_dns unknown", src: "{\n\tacme_dns gandi\n}", want: `Caddyfile:2:11: acme_dns: unknown provider "gandi" (want route53)`},
		{name: "acme_eab without block", src: "{\n\tacme_eab\n}", want: "Caddyfile:2:2: acme_eab: want a block with key_id and mac_key"},
		{name: "acme_eab without mac", src: "{\n\tacme_eab {\n\t\tkey_id k\n\t}\n}", want: "Caddyfile:2:2: eab: mac_key is required"},
		{name: "acme_eab unknown option", src: "{\n\tacme_eab {\n\t\tkid k\n\t}\n}", want: `Caddyfile:3:3: unknown acme_eab option "kid"`},
		{name: "acme_dns twice", src: "{\n\tacme_dns route53\n\tacme_dns route53\n}", want: "Caddyfile:3:2: acme_dns is set twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dir, err := parseFiles(t, map[string]string{"Caddyfile": tc.src}, nil)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded; want error %s", tc.src, tc.want)
			}
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Errorf("Parse(%q) error %T is not an *Error", tc.src, err)
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("Parse(%q) error =\n  %s\nwant prefix\n  %s", tc.src, got, tc.want)
			}
		})
	}
}

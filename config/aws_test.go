package config

import (
	"errors"
	"path/filepath"
	"slices"
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
		{name: "unknown dns provider", src: "a.com {\n\ttls {\n\t\tdns cloudflare\n\t}\n}", want: `Caddyfile:3:7: dns: provider "cloudflare" is a Caddy plugin (github.com/caddy-dns/cloudflare), not part of Tether; Tether has route53`},
		{name: "dns without provider", src: "a.com {\n\ttls {\n\t\tdns\n\t}\n}", want: "Caddyfile:3:3: dns: want at least 1 argument(s), got 0"},
		{name: "unknown route53 option", src: "a.com {\n\ttls {\n\t\tdns route53 {\n\t\t\taccess_key AKIA\n\t\t}\n\t}\n}", want: `Caddyfile:4:4: unknown dns route53 option "access_key" (want hosted_zone_id, region, endpoint, access_key_id, secret_access_key, session_token, token, profile, aws_profile, max_retries`},
		{name: "route53 half credentials", src: "a.com {\n\ttls {\n\t\tdns route53 {\n\t\t\taccess_key_id AKIA\n\t\t}\n\t}\n}", want: "Caddyfile:4:4: dns route53: static credentials need both access_key_id and secret_access_key (secret_access_key is missing)"},
		{name: "route53 token alone", src: "{\n\tacme_dns route53 {\n\t\ttoken T\n\t}\n}", want: "Caddyfile:3:3: acme_dns route53: session_token goes with access_key_id and secret_access_key"},
		{name: "route53 max_retries", src: "{\n\tacme_dns route53 {\n\t\tmax_retries many\n\t}\n}", want: `Caddyfile:3:15: max_retries: "many" is not a whole number`},
		{name: "route53 profile twice", src: "{\n\tacme_dns route53 {\n\t\tprofile a\n\t\taws_profile b\n\t}\n}", want: "Caddyfile:4:3: aws_profile is set twice (first at Caddyfile:3:3)"},
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
		{name: "global acme_dns unknown", src: "{\n\tacme_dns gandi\n}", want: `Caddyfile:2:11: acme_dns: provider "gandi" is a Caddy plugin (github.com/caddy-dns/gandi), not part of Tether; Tether has route53`},
		{name: "acme_eab without block", src: "{\n\tacme_eab\n}", want: "Caddyfile:2:2: acme_eab: want a block with key_id and mac_key"},
		{name: "acme_eab without mac", src: "{\n\tacme_eab {\n\t\tkey_id k\n\t}\n}", want: "Caddyfile:2:2: eab: mac_key is required"},
		{name: "acme_eab unknown option", src: "{\n\tacme_eab {\n\t\tkid k\n\t}\n}", want: `Caddyfile:3:3: unknown acme_eab option "kid"`},
		// discover ec2 in a balancer.
		{name: "ec2 without block", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2\n\t}\n}", want: "Caddyfile:3:3: discover ec2: want a block with at least a tag and the port"},
		{name: "ec2 without port", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\ttag app=shop\n\t\t}\n\t}\n}", want: "Caddyfile:3:3: discover ec2: port is required"},
		{name: "ec2 without filter", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\tport 8009\n\t\t}\n\t}\n}", want: "Caddyfile:3:3: discover ec2: give at least one tag, security_group or vpc filter"},
		{name: "ec2 unknown option", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\ttags app=shop\n\t\t}\n\t}\n}", want: `Caddyfile:4:4: unknown discover ec2 option "tags"`},
		{name: "ec2 bad scheme", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\tscheme h2c\n\t\t}\n\t}\n}", want: `Caddyfile:4:11: scheme: unknown scheme "h2c" (want http, https or ajp)`},
		{name: "ec2 bad port", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\tport 0\n\t\t}\n\t}\n}", want: "Caddyfile:4:9: port: 0 is out of range 1..65535"},
		{name: "ec2 refresh too short", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\trefresh 10ms\n\t\t}\n\t}\n}", want: "Caddyfile:4:12: refresh: 10ms is out of range 1s..24h"},
		{name: "ec2 tag without key", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\ttag =shop\n\t\t}\n\t}\n}", want: `Caddyfile:4:8: tag: "=shop" has no key`},
		{name: "ec2 bad address", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\taddress ipv6\n\t\t}\n\t}\n}", want: `Caddyfile:4:12: address: want private or public, got "ipv6"`},
		{name: "ec2 two regions", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\tregion a b\n\t\t}\n\t}\n}", want: `Caddyfile:4:13: region: unexpected argument "b"`},
		{name: "ec2 bad endpoint", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\tendpoint moto\n\t\t}\n\t}\n}", want: "Caddyfile:4:13: endpoint:"},
		{name: "ec2 twice", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 {\n\t\t\ttag a\n\t\t\tport 1\n\t\t}\n\t\tdiscover ec2 {\n\t\t}\n\t}\n}", want: "Caddyfile:7:3: discover ec2 is set twice"},
		{name: "ec2 inline", src: "a.com {\n\treverse_proxy {\n\t\tdiscover ec2 tag=a\n\t}\n}", want: `Caddyfile:3:16: discover ec2: options go in a block, not "tag=a"`},
		{name: "discover other kind", src: "a.com {\n\treverse_proxy {\n\t\tdiscover s3 x\n\t}\n}", want: `Caddyfile:3:12: discover: want cluster SERVICE or ec2 { ... }, got "s3"`},
		// admin { proxy_protocol }.
		{name: "admin bad proxy_protocol", src: "{\n\tadmin 127.0.0.1:9180 {\n\t\tproxy_protocol nope\n\t}\n}", want: `Caddyfile:3:18: proxy_protocol: "nope" is not a CIDR or IP address (or private_ranges)`},
		{name: "admin proxy_protocol twice", src: "{\n\tadmin 127.0.0.1:9180 {\n\t\tproxy_protocol 10.0.0.0/8\n\t\tproxy_protocol 10.0.0.0/8\n\t}\n}", want: "Caddyfile:4:3: proxy_protocol: given twice in the admin block"},
		// The agent block.
		{name: "agent without cluster", src: "{\n\tagent {\n\t}\n}", want: "Caddyfile:2:2: agent: want 1 argument(s), got 0"},
		{name: "agent without service", src: "{\n\tagent prod {\n\t\turl http://127.0.0.1:8080\n\t}\n}", want: "Caddyfile:2:2: agent: service is required"},
		{name: "agent without url", src: "{\n\tagent prod {\n\t\tservice app\n\t}\n}", want: "Caddyfile:2:2: agent: url is required"},
		{name: "agent bad url", src: "{\n\tagent prod {\n\t\turl ftp://x:1\n\t}\n}", want: `Caddyfile:3:7: url: "ftp://x:1": want`},
		{name: "agent unknown option", src: "{\n\tagent prod {\n\t\tjoin 10.0.0.1:7946\n\t}\n}", want: `Caddyfile:3:3: unknown agent option "join"`},
		{name: "agent bad discover", src: "{\n\tagent prod {\n\t\tdiscover consul x\n\t}\n}", want: `Caddyfile:3:12: discover: unknown provider "consul"`},
		{name: "agent s3 without bucket", src: "{\n\tagent prod {\n\t\tdiscover s3 {\n\t\t}\n\t}\n}", want: "Caddyfile:3:12: discover s3: bucket is required"},
		{name: "agent bad route", src: "{\n\tagent prod {\n\t\troute a/b\n\t}\n}", want: `Caddyfile:3:9: route: bad name "a/b"`},
		{name: "agent weight", src: "{\n\tagent prod {\n\t\tweight 0\n\t}\n}", want: "Caddyfile:3:10: weight: 0 is out of range 1..100"},
		{name: "agent bad key", src: "{\n\tagent prod {\n\t\tgossip_key short\n\t}\n}", want: "Caddyfile:3:14: gossip_key: key"},
		{name: "agent bad health_uri", src: "{\n\tagent prod {\n\t\thealth_uri health\n\t}\n}", want: `Caddyfile:3:14: health_uri: "health" is not a path`},
		{name: "agent twice", src: "{\n\tagent a {\n\t\tservice s\n\t\turl http://h:1\n\t}\n\tagent b {\n\t}\n}", want: "Caddyfile:6:2: agent is set twice"},
		{name: "agent bad advertise", src: "{\n\tagent prod {\n\t\tadvertise a/b\n\t}\n}", want: `Caddyfile:3:13: advertise: "a/b" is not ip[:port]`},
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

// TestRoute53Options: the options of Caddy's route53 module (as
// AV-IO/Docker-Homelab writes them): credentials, profile, region and
// max_retries are honoured, with the module's old spellings; the ones
// about Route 53's own sync are accepted with a warning that says why.
func TestRoute53Options(t *testing.T) {
	src := "{\n\tacme_dns route53 {\n\t\tmax_retries 3\n\t\taccess_key_id {$R53_AKID}\n\t\tsecret_access_key {$R53_SAK}\n" +
		"\t\ttoken {$R53_TOKEN}\n\t\taws_profile dns\n\t\tregion {$R53_Region}\n\t\thosted_zone_id Z123\n" +
		"\t\twait_for_route53_sync true\n\t\tmax_wait_dur 60\n\t\tskip_route53_sync_on_delete false\n\t\tdebug_logging true\n\t}\n}\n"
	cfg, err := ParseOptions{LookupEnv: envOf(map[string]string{"R53_AKID": "AKIAEXAMPLE", "R53_SAK": "s3cret", "R53_TOKEN": "tok", "R53_Region": "eu-west-1"})}.Parse("Caddyfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := *cfg.Global.ACMEDNS
	got.Pos = Pos{}
	want := DNSProvider{Name: "route53", HostedZoneID: "Z123", Region: "eu-west-1", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3cret",
		SessionToken: "tok", Profile: "dns", MaxRetries: 3}
	if got != want {
		t.Errorf("acme_dns = %+v; want %+v", got, want)
	}
	var warned []string
	for _, w := range cfg.Warnings {
		warned = append(warned, w.String())
	}
	for _, want := range []string{
		"Caddyfile:10:3: warning: acme_dns route53: wait_for_route53_sync is not honoured: Tether does not wait for Route 53's own sync",
		"Caddyfile:11:3: warning: acme_dns route53: max_wait_dur is not honoured",
		"Caddyfile:12:3: warning: acme_dns route53: skip_route53_sync_on_delete is not honoured",
		"Caddyfile:13:3: warning: acme_dns route53: debug_logging is not honoured",
	} {
		if !slices.ContainsFunc(warned, func(w string) bool { return strings.HasPrefix(w, want) }) {
			t.Errorf("warnings %q; want one starting %q", warned, want)
		}
	}
}

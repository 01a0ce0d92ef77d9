package config

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testEnv is the environment of the golden tests.
var testEnv = map[string]string{
	"ADMIN_TOKEN": "t0ken",
	"GOSSIP_KEY":  "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	"SEEDS":       "10.1.0.1:7946 10.1.0.2:7946",
	"USER_NAME":   "ops",
	"EMPTY":       "",
	"ACME_EMAIL":  "ops@example.com",
	"MOTD":        "hello {world} and {$SEEDS}",
	"OFFICE_NET":  "10.20.0.0/16",
	"OFFICE_NETS": "10.20.0.0/16,192.168.7.0/24",
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// dump renders v as indented JSON in field order, leaving out zero values,
// with durations, prefixes and positions as strings: the golden format.
func dump(v any) string {
	var b strings.Builder
	dumpValue(&b, reflect.ValueOf(v), "")
	b.WriteByte('\n')
	return b.String()
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	posType      = reflect.TypeFor[Pos]()
	regexpType   = reflect.TypeFor[regexp.Regexp]()
	routeType    = reflect.TypeFor[Route]()
	exprNodeType = reflect.TypeFor[ExprNode]()
)

func dumpValue(b *strings.Builder, v reflect.Value, ind string) {
	switch {
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		dumpValue(b, v.Elem(), ind)
		return
	case v.Type() == durationType:
		b.WriteString(strconv.Quote(time.Duration(v.Int()).String()))
		return
	case v.Type() == prefixType || v.Type() == posType:
		b.WriteString(strconv.Quote(fmt.Sprint(v.Interface())))
		return
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8:
		// Certificates' DER: their SHA-256 stands for them.
		b.WriteString(strconv.Quote(fmt.Sprintf("sha256:%x", sha256.Sum256(v.Bytes()))))
		return
	case v.Type() == exprNodeType:
		// An expression's tree: as it reads, every operation parenthesized.
		b.WriteString(strconv.Quote(v.Addr().Interface().(*ExprNode).String()))
		return
	case v.Type() == regexpType:
		b.WriteString(strconv.Quote(v.Addr().Interface().(*regexp.Regexp).String()))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		b.WriteString("{")
		n := 0
		for i := range v.NumField() {
			f := v.Field(i)
			if f.IsZero() || (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.Len() == 0 {
				continue
			}
			if n > 0 {
				b.WriteString(",")
			}
			n++
			b.WriteString("\n" + ind + "\t" + strconv.Quote(v.Type().Field(i).Name) + ": ")
			if v.Type() == routeType && v.Type().Field(i).Name == "Balancers" {
				// By name: Site.Balancers has them whole.
				var names []string
				for _, bal := range f.Interface().([]*Balancer) {
					names = append(names, bal.Name)
				}
				out, _ := json.Marshal(names)
				b.Write(out)
				continue
			}
			dumpValue(b, f, ind+"\t")
		}
		if n > 0 {
			b.WriteString("\n" + ind)
		}
		b.WriteString("}")
	case reflect.Slice:
		b.WriteString("[")
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n" + ind + "\t")
			dumpValue(b, v.Index(i), ind+"\t")
		}
		b.WriteString("\n" + ind + "]")
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n" + ind + "\t" + strconv.Quote(k.String()) + ": ")
			dumpValue(b, v.MapIndex(k), ind+"\t")
		}
		b.WriteString("\n" + ind + "}")
	default:
		out, _ := json.Marshal(v.Interface())
		b.Write(out)
	}
}

// TestGolden parses each testdata/*.Caddyfile and compares the config with
// the .golden.json beside it (go test ./config -update rewrites them).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.Caddyfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			cfg, err := ParseOptions{LookupEnv: envOf(testEnv)}.Load(in)
			if err != nil {
				t.Fatalf("Load(%s): %v", in, err)
			}
			got := dump(cfg)
			golden := strings.TrimSuffix(in, ".Caddyfile") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("Load(%s) differs from %s (run with -update to accept):\n%s", in, golden, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff shows the first differing lines of two texts.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return "(no line differs)"
}

// parseFiles writes files into a temp dir and loads "Caddyfile" there. The
// returned error text has the temp dir removed from paths.
func parseFiles(t *testing.T, files map[string]string, env map[string]string) (*Config, string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := ParseOptions{LookupEnv: envOf(env)}.Load(filepath.Join(dir, "Caddyfile"))
	return cfg, dir, err
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   string            // the Caddyfile
		files map[string]string // other files beside it
		want  string            // file:line:col: message (a prefix of it)
	}{
		// The request pipeline.
		{name: "undefined matcher", src: "a.com {\n\trespond @nope 404\n}", want: "Caddyfile:2:10: respond: no matcher named @nope is defined in this block or around it"},
		{name: "matcher defined twice", src: "a.com {\n\t@a path /a\n\t@a path /b\n\trespond @a 1\n}", want: "Caddyfile:3:2: matcher @a is defined twice (first at"},
		{name: "unknown matcher condition", src: "a.com {\n\t@a {\n\t\tpathh /a\n\t}\n}", want: "Caddyfile:3:3: unknown matcher condition \"pathh\""},
		{name: "bad path_regexp", src: "a.com {\n\t@a path_regexp (\n}", want: "Caddyfile:2:17: @a: path_regexp: error parsing regexp"},
		{name: "bad matcher ip", src: "a.com {\n\t@a remote_ip 10.0.0.300\n}", want: "Caddyfile:2:15: @a: remote_ip: \"10.0.0.300\" is not a CIDR"},
		{name: "bad protocol", src: "a.com {\n\t@a protocol gopher\n}", want: "Caddyfile:2:14: @a: protocol \"gopher\""},
		{name: "matcher scope", src: "a.com {\n\thandle /x/* {\n\t\t@in path /x/a\n\t}\n\trespond @in 1\n}", want: "Caddyfile:5:10: respond: no matcher named @in"},
		{name: "site directive in handle", src: "a.com {\n\thandle {\n\t\ttls internal\n\t}\n}", want: "Caddyfile:3:3: tls belongs in the site block, not in a handle"},
		{name: "handle_path matcher", src: "a.com {\n\t@a path /a\n\thandle_path @a {\n\t}\n}", want: "Caddyfile:3:14: handle_path: want a path prefix"},
		{name: "rewrite to a URL", src: "a.com {\n\trewrite https://b.com/\n}", want: "Caddyfile:2:10: rewrite: target \"https://b.com/\": want /path[?query]"},
		{name: "uri unknown op", src: "a.com {\n\turi strip /a\n}", want: "Caddyfile:2:6: uri: unknown operation \"strip\""},
		{name: "php_fastcgi", src: "a.com {\n\tphp_fastcgi localhost:9000\n}", want: "Caddyfile:2:2: php_fastcgi is Caddy's, not supported by Tether: FastCGI to PHP-FPM is not supported"},
		{name: "caddy plugin", src: "a.com {\n\thandle {\n\t\trate_limit {\n\t\t}\n\t}\n}", want: "Caddyfile:3:3: rate_limit is a Caddy plugin"},
		{name: "two file_servers", src: "a.com {\n\troot * /srv\n\tfile_server\n\tfile_server browse\n}", want: "Caddyfile:4:2: file_server is set twice"},
		{name: "request_header defer", src: "a.com {\n\trequest_header >X-A 1\n}", want: "Caddyfile:2:17: request_header: defer and > are for answers"},
		// Structure.
		{name: "brace mid line", src: "a.com {\n\treverse_proxy { to http://x\n}\n}", want: "Caddyfile:2:18: unexpected \"to\" after '{'"},
		{name: "unclosed block", src: "a.com {\n\treverse_proxy http://x {\n}", want: "Caddyfile:1:7: '{' is never closed"},
		{name: "unexpected close", src: "a.com {\n}\n}", want: "Caddyfile:3:1: unexpected '}'"},
		{name: "tokens after close", src: "a.com {\n} b", want: "Caddyfile:2:3: unexpected \"b\" after '}'"},
		{name: "second global block", src: "{\n}\n{\n}", want: "Caddyfile:3:1: block without a site address"},
		{name: "brace on its own line", src: "a.com {\n\treverse_proxy\n\t{\n\t}\n}", want: "Caddyfile:3:2: a block's '{' must end the line"},
		{name: "site without braces among others", src: "a.com {\n}\nb.com\n", want: "Caddyfile:3:1: expected '{'"},
		{name: "close brace after arguments", src: "a.com {\n\tfile_server }\n}", want: "Caddyfile:2:14: '}' must be alone on its line"},
		{name: "global brace followed by token", src: "{ admin off\n}", want: "Caddyfile:1:3: unexpected \"admin\""},
		{name: "unterminated quote", src: "a.com {\n\troot \"/srv\n}", want: "Caddyfile:2:7: unterminated quoted string"},

		// Global options.
		{name: "unknown global option", src: "{\n\tadmn off\n}", want: "Caddyfile:2:2: unknown global option \"admn\""},
		{name: "site directive in global", src: "{\n\ttls internal\n}", want: "Caddyfile:2:2: tls belongs in a site block"},
		{name: "bad http port", src: "{\n\thttp_port 80x\n}", want: "Caddyfile:2:12: http_port: \"80x\" is not a whole number"},
		{name: "https port out of range", src: "{\n\thttps_port 70000\n}", want: "Caddyfile:2:13: https_port: 70000 is out of range 1..65535"},
		{name: "option twice", src: "{\n\thttp_port 80\n\thttp_port 81\n}", want: "Caddyfile:3:2: http_port is set twice (first at Caddyfile:2:2)"},
		{name: "missing argument", src: "{\n\temail\n}", want: "Caddyfile:2:2: email: want 1 argument(s), got 0"},
		{name: "extra argument", src: "{\n\temail a@b c@d\n}", want: "Caddyfile:2:12: email: unexpected argument \"c@d\""},
		{name: "bad admin address", src: "{\n\tadmin localhost\n}", want: "Caddyfile:2:8: admin: \"localhost\" is not host:port"},
		{name: "public admin without token", src: "{\n\tadmin 0.0.0.0:9180\n}", want: "Caddyfile:2:2: admin: 0.0.0.0:9180 is not a loopback address"},
		{name: "admin origins with scheme", src: "{\n\tadmin 127.0.0.1:9180 {\n\t\torigins http://a.example\n\t}\n}", want: "Caddyfile:3:11: origins: \"http://a.example\" is not a host name: give the name only, without scheme"},
		{name: "admin origins with port", src: "{\n\tadmin 127.0.0.1:9180 {\n\t\torigins a.example:9180\n\t}\n}", want: "Caddyfile:3:11: origins: \"a.example:9180\" has a port"},
		{name: "admin origins bad name", src: "{\n\tadmin 127.0.0.1:9180 {\n\t\torigins ok.example a/b\n\t}\n}", want: "Caddyfile:3:22: origins: \"a/b\" has '/'"},
		{name: "admin origins empty", src: "{\n\tadmin 127.0.0.1:9180 {\n\t\torigins\n\t}\n}", want: "Caddyfile:3:3: origins"},
		{name: "admin token twice", src: "{\n\tadmin_token a\n\tadmin {\n\t\ttoken b\n\t}\n}", want: "Caddyfile:4:3: token: the admin token is already set at Caddyfile:2:14"},
		{name: "bad acme ca", src: "{\n\tacme_ca ftp://ca\n}", want: "Caddyfile:2:10: acme_ca: want an http:// or https:// URL"},
		{name: "storage kind", src: "{\n\tstorage nfs\n}", want: "Caddyfile:2:10: storage: unknown kind \"nfs\""},
		{name: "storage s3 bucket", src: "{\n\tstorage s3 {\n\t\tprefix x/\n\t}\n}", want: "Caddyfile:2:10: storage s3: bucket is required"},
		{name: "storage s3 option", src: "{\n\tstorage s3 {\n\t\tbuckett x\n\t}\n}", want: "Caddyfile:3:3: unknown storage s3 option \"buckett\""},
		{name: "bad duration", src: "{\n\tdrain_delay 5x\n}", want: "Caddyfile:2:14: drain_delay: bad duration \"5x\""},
		{name: "bare number duration", src: "{\n\tshutdown_timeout 30\n}", want: "Caddyfile:2:19: shutdown_timeout: bad duration \"30\""},
		{name: "zero shutdown timeout", src: "{\n\tshutdown_timeout 0\n}", want: "Caddyfile:2:19: shutdown_timeout: must be more than 0"},
		{name: "log level", src: "{\n\tlog {\n\t\tlevel verbose\n\t}\n}", want: "Caddyfile:3:9: level: unknown level \"verbose\""},
		{name: "cluster without name", src: "{\n\tcluster {\n\t}\n}", want: "Caddyfile:2:2: cluster: want 1 argument(s), got 0"},
		{name: "gossip key not base64", src: "{\n\tcluster c {\n\t\tgossip_key c2l4dGVlbiBieXRlIGtleQ== nope!\n\t}\n}", want: "Caddyfile:3:39: gossip_key: key is not valid base64"},
		{name: "gossip key length", src: "{\n\tcluster c {\n\t\tgossip_key c2hvcnQ=\n\t}\n}", want: "Caddyfile:3:14: gossip_key: key decodes to 5 bytes"},
		{name: "gossip key from unset env", src: "{\n\tcluster c {\n\t\tgossip_key {$UNSET}\n\t}\n}", want: "Caddyfile:3:3: gossip_key: want at least 1 argument(s), got 0"},
		{name: "cluster profile", src: "{\n\tcluster c {\n\t\tprofile lan2\n\t}\n}", want: "Caddyfile:3:11: profile: unknown profile \"lan2\""},
		{name: "discover provider", src: "{\n\tcluster c {\n\t\tdiscover consul\n\t}\n}", want: "Caddyfile:3:12: discover: unknown provider \"consul\""},
		{name: "discover static port", src: "{\n\tcluster c {\n\t\tdiscover static 10.0.0.1:7946 10.0.0.2\n\t}\n}", want: "Caddyfile:3:33: discover static: \"10.0.0.2\" is not host:port"},
		{name: "discover s3 bucket", src: "{\n\tcluster c {\n\t\tdiscover s3 {\n\t\t\tprefix p/\n\t\t}\n\t}\n}", want: "Caddyfile:3:12: discover s3: bucket is required"},
		{name: "session ttl", src: "{\n\tcluster c {\n\t\tsession_ttl 30\n\t}\n}", want: "Caddyfile:3:15: session_ttl: bad duration \"30\""},
		{name: "store kind", src: "{\n\tcluster c {\n\t\tstore redis\n\t}\n}", want: "Caddyfile:3:9: store: unknown kind \"redis\" (want dynamodb)"},
		{name: "store table", src: "{\n\tcluster c {\n\t\tstore dynamodb {\n\t\t\tregion eu-west-1\n\t\t}\n\t}\n}", want: "Caddyfile:3:9: store dynamodb: table is required"},
		{name: "store option", src: "{\n\tcluster c {\n\t\tstore dynamodb {\n\t\t\ttabel x\n\t\t}\n\t}\n}", want: "Caddyfile:4:4: unknown store dynamodb option \"tabel\""},

		{name: "limits without block", src: "{\n\tlimits\n}", want: "Caddyfile:2:2: limits: want a block of options"},
		{name: "limits unknown option", src: "{\n\tlimits {\n\t\tmax_body 1MB\n\t}\n}", want: "Caddyfile:3:3: unknown limits option \"max_body\""},
		{name: "limits bad size", src: "{\n\tlimits {\n\t\tmax_body_size 1XB\n\t}\n}", want: "Caddyfile:3:17: max_body_size: bad size \"1XB\""},
		{name: "limits header size too small", src: "{\n\tlimits {\n\t\tmax_header_size 100\n\t}\n}", want: "Caddyfile:3:19: max_header_size: 100 is out of range 1024..16777216"},
		{name: "limits timeout too small", src: "{\n\tlimits {\n\t\tbody_timeout 1ms\n\t}\n}", want: "Caddyfile:3:16: body_timeout: 1ms is out of range 100ms..24h0m0s"},
		{name: "limits zero timeout", src: "{\n\tlimits {\n\t\twrite_timeout 0\n\t}\n}", want: "Caddyfile:3:17: write_timeout: 0 is out of range"},
		{name: "listener limit in site", src: "a.com {\n\tlimits {\n\t\theader_timeout 5s\n\t}\n}", want: "Caddyfile:3:3: limits: header_timeout applies to a listener before its site is known"},
		{name: "health interval too small", src: "a.com {\n\treverse_proxy http://x {\n\t\thealth_interval 1ns\n\t}\n}", want: "Caddyfile:3:19: health_interval: 1ns is out of range 50ms..24h0m0s"},
		{name: "recover time too large", src: "a.com {\n\treverse_proxy http://x {\n\t\trecover_time 30d\n\t}\n}", want: "Caddyfile:3:16: recover_time: 720h0m0s is out of range 100ms..24h0m0s"},
		{name: "dial timeout too small", src: "a.com {\n\treverse_proxy http://x {\n\t\tdial_timeout 1us\n\t}\n}", want: "Caddyfile:3:16: dial_timeout: 1µs is out of range 10ms..10m0s"},
		{name: "drain delay too large", src: "{\n\tdrain_delay 2h\n}", want: "Caddyfile:2:14: drain_delay: 2h0m0s is out of range 0s..1h0m0s"},
		{name: "allow unknown method", src: "a.com {\n\tallow_methods DELETE\n}", want: "Caddyfile:2:16: allow_methods: unknown method \"DELETE\" (want TRACE or CONNECT)"},

		// Sites.
		{name: "unknown directive", src: "a.com {\n\trevers_proxy http://x\n}", want: "Caddyfile:2:2: unknown directive \"revers_proxy\""},
		{name: "global option in site", src: "a.com {\n\temail a@b\n}", want: "Caddyfile:2:2: email belongs in the global options block"},
		{name: "address scheme", src: "ftp://a.com {\n}", want: "Caddyfile:1:1: site address \"ftp://a.com\": scheme \"ftp\" is not supported"},
		{name: "address path", src: "a.com/app {\n}", want: "Caddyfile:1:1: site address \"a.com/app\": a site address is [scheme://]host[:port]"},
		{name: "address port", src: "a.com,b.com:99999 {\n}", want: "Caddyfile:1:7: site address \"b.com:99999\": bad port \"99999\""},
		{name: "address ipv6 without brackets", src: "::1:80 {\n}", want: "Caddyfile:1:1: site address \"::1:80\": an IPv6 address must be in brackets"},
		{name: "duplicate address", src: "a.com {\n}\nb.com A.com:443 {\n}", want: "Caddyfile:3:7: site address \"A.com:443\" is already served by the site at Caddyfile:1:1"},
		{name: "bad cidr", src: "a.com {\n\ttrusted_proxies 10.0.0.0/8 10.0.0.0/33\n}", want: "Caddyfile:2:29: trusted_proxies: \"10.0.0.0/33\" is not a CIDR"},
		{name: "tls mode", src: "a.com {\n\ttls acme\n}", want: "Caddyfile:2:6: tls: want internal, off, an ACME email or CERT KEY, got \"acme\""},
		{name: "tls on demand without ask", src: "a.com {\n\ttls {\n\t\ton_demand\n\t}\n}", want: "Caddyfile:3:3: on_demand: needs ask URL"},
		{name: "tls off on https", src: "a.com, https://b.com {\n\ttls off\n}", want: "Caddyfile:2:2: tls off: the site has the https address \"https://b.com\""},
		{name: "tls off with block", src: "a.com {\n\ttls off {\n\t}\n}", want: "Caddyfile:2:10: tls takes no block"},
		{name: "file server without root", src: "a.com {\n\tfile_server\n}", want: "Caddyfile:2:2: file_server: no root"},
		{name: "root with a bad matcher", src: "a.com {\n\troot srv /srv\n\tfile_server\n}", want: "Caddyfile:2:7: root: \"srv\" is not a matcher (want root [* | /path | @name] DIR)"},
		{name: "root with an unknown matcher", src: "a.com {\n\troot @x /srv\n\tfile_server\n}", want: "Caddyfile:2:7: root: no matcher named @x"},
		{name: "root twice", src: "a.com {\n\troot /a\n\troot * /b\n\tfile_server\n}", want: "Caddyfile:3:2: root is set twice in this block (first at Caddyfile:2:2)"},
		{name: "access log format", src: "a.com {\n\taccess_log stdout xml\n}", want: "Caddyfile:2:20: access_log: unknown format \"xml\""},
		{name: "import_jk missing file", src: "a.com {\n\timport_jk workers.properties\n}", want: "Caddyfile:2:2: import_jk: read workers file: "},

		// reverse_proxy.
		{name: "no members", src: "a.com {\n\treverse_proxy /app/*\n}", want: "Caddyfile:2:2: reverse_proxy: no members"},
		{name: "unknown option", src: "a.com {\n\treverse_proxy http://x {\n\t\tlb_polcy random\n\t}\n}", want: "Caddyfile:3:3: unknown reverse_proxy option \"lb_polcy\""},
		{name: "lb policy", src: "a.com {\n\treverse_proxy http://x {\n\t\tlb_policy fastest\n\t}\n}", want: "Caddyfile:3:13: lb_policy: unknown policy \"fastest\""},
		{name: "recover time", src: "a.com {\n\treverse_proxy http://x {\n\t\trecover_time 5x\n\t}\n}", want: "Caddyfile:3:16: recover_time: bad duration \"5x\""},
		{name: "member url scheme", src: "a.com {\n\treverse_proxy ftp://x:21\n}", want: "Caddyfile:2:16: reverse_proxy: member URL \"ftp://x:21\": scheme \"ftp\" is not supported"},
		{name: "member url path", src: "a.com {\n\treverse_proxy http://x/app\n}", want: "Caddyfile:2:16: reverse_proxy: member URL \"http://x/app\": a member URL is scheme://host:port"},
		{name: "member url after name", src: "a.com {\n\treverse_proxy {\n\t\tto t1=http://x t2=gopher://y\n\t}\n}", want: "Caddyfile:3:21: to: member URL \"gopher://y\": scheme \"gopher\""},
		{name: "member port", src: "a.com {\n\treverse_proxy {\n\t\tbackend t1 http://x:0\n\t}\n}", want: "Caddyfile:3:14: backend: member URL \"http://x:0\": bad port"},
		{name: "member state", src: "a.com {\n\treverse_proxy {\n\t\tbackend t1 http://x {\n\t\t\tstate paused\n\t\t}\n\t}\n}", want: "Caddyfile:4:10: state: unknown state \"paused\" (want active, disabled or stopped)"},
		{name: "member weight", src: "a.com {\n\treverse_proxy {\n\t\tbackend t1 http://x {\n\t\t\tweight 0\n\t\t}\n\t}\n}", want: "Caddyfile:4:11: weight: 0 is out of range"},
		{name: "duplicate member", src: "a.com {\n\treverse_proxy {\n\t\tto t1=http://x\n\t\tbackend t1 http://y\n\t}\n}", want: "Caddyfile:4:11: member name \"t1\" is used twice in balancer a.com-1 (first at Caddyfile:3:6)"},
		{name: "duplicate derived member", src: "a.com {\n\treverse_proxy http://x:80 x:80\n}", want: "Caddyfile:2:28: member name \"x:80\" is used twice in balancer a.com-1 (first at Caddyfile:2:16)"},
		{name: "redirect to unknown member", src: "a.com {\n\treverse_proxy {\n\t\tto t1=http://x\n\t\tbackend t2 http://y {\n\t\t\tredirect t3\n\t\t}\n\t}\n}", want: "Caddyfile:5:13: redirect: no member \"t3\" in balancer a.com-1"},
		{name: "redirect to itself", src: "a.com {\n\treverse_proxy {\n\t\tbackend t2 http://y {\n\t\t\tredirect t2\n\t\t}\n\t}\n}", want: "Caddyfile:4:13: redirect: member t2 redirects to itself"},
		{name: "sticky mode", src: "a.com {\n\treverse_proxy http://x {\n\t\tsticky ip\n\t}\n}", want: "Caddyfile:3:10: sticky: unknown mode \"ip\""},
		{name: "sticky learn needs cookie", src: "a.com {\n\treverse_proxy http://x {\n\t\tsticky learn\n\t}\n}", want: "Caddyfile:3:10: sticky learn: want a cookie name"},
		{name: "sticky cookie twice", src: "a.com {\n\treverse_proxy http://x {\n\t\tsticky cookie A\n\t\tsticky_cookie B\n\t}\n}", want: "Caddyfile:4:3: sticky_cookie: the cookie is already named by sticky at Caddyfile:3:17"},
		{name: "sticky force", src: "a.com {\n\treverse_proxy http://x {\n\t\tsticky_force yes\n\t}\n}", want: "Caddyfile:3:16: sticky_force: want on or off"},
		{name: "max fails negative", src: "a.com {\n\treverse_proxy http://x {\n\t\tmax_fails -1\n\t}\n}", want: "Caddyfile:3:13: max_fails: -1 is out of range 1..1000"},
		{name: "fail on status", src: "a.com {\n\treverse_proxy http://x {\n\t\tfail_on_status 502 700\n\t}\n}", want: "Caddyfile:3:22: fail_on_status: 700 is out of range 100..599"},
		{name: "health uri", src: "a.com {\n\treverse_proxy http://x {\n\t\thealth_uri health\n\t}\n}", want: "Caddyfile:3:14: health_uri: \"health\" must start with /"},
		{name: "ajp packet size", src: "a.com {\n\treverse_proxy ajp://x {\n\t\tajp_packet_size 1024\n\t}\n}", want: "Caddyfile:3:19: ajp_packet_size: 1024 is out of range 8192..65536"},
		{name: "discover without cluster", src: "a.com {\n\treverse_proxy {\n\t\tdiscover cluster app\n\t}\n}", want: "Caddyfile:3:3: discover cluster: no cluster is configured"},
		{name: "named matcher", src: "a.com {\n\treverse_proxy @api http://x\n}", want: "Caddyfile:2:16: reverse_proxy: no matcher named @api is defined in this block or around it"},
		{name: "bad path pattern", src: "a.com {\n\treverse_proxy /a*/b http://x\n}", want: "Caddyfile:2:16: reverse_proxy: bad path pattern \"/a*/b\""},
		{name: "duplicate balancer name", src: "a.com {\n\treverse_proxy http://x {\n\t\tname app\n\t}\n}\nb.com {\n\treverse_proxy http://y {\n\t\tname app\n\t}\n}", want: "Caddyfile:8:8: balancer name \"app\" is already used by the balancer at Caddyfile:2:2"},
		{name: "bad balancer name", src: "a.com {\n\treverse_proxy http://x {\n\t\tname a/b\n\t}\n}", want: "Caddyfile:3:8: name: bad balancer name \"a/b\""},
		{name: "option twice in block", src: "a.com {\n\treverse_proxy http://x {\n\t\tretries 1\n\t\tretries 2\n\t}\n}", want: "Caddyfile:4:3: retries is set twice (first at Caddyfile:3:3)"},

		// Imports and snippets.
		{name: "import missing file", src: "a.com {\n\timport nothere.caddy\n}", want: "Caddyfile:2:9: import nothere.caddy: no snippet of that name and no file"},
		{name: "error in imported file", src: "a.com {\n\timport inc/site.caddy\n}", files: map[string]string{"inc/site.caddy": "# comment\nreverse_proxy http://x {\n\tlb_policy nope\n}\n"}, want: "inc/site.caddy:3:12: lb_policy: unknown policy \"nope\""},
		{name: "lex error in imported file", src: "import inc/g.caddy\n", files: map[string]string{"inc/g.caddy": "a.com {\n\troot `x\n}"}, want: "inc/g.caddy:2:7: unterminated backtick string"},
		{name: "import cycle", src: "import a.caddy\n", files: map[string]string{"a.caddy": "import b.caddy\n", "b.caddy": "\nimport a.caddy\n"}, want: "b.caddy:2:1: import cycle: file "},
		{name: "import self", src: "a.com {\n}\nimport Caddyfile\n", want: "Caddyfile:3:1: import cycle: file "},
		{name: "snippet cycle", src: "(a) {\n\timport b\n}\n(b) {\n\timport a\n}\nx.com {\n\timport a\n}", want: "Caddyfile:5:2: import cycle: snippet (a) -> snippet (b) -> snippet (a)"},
		{name: "snippet argument out of range", src: "(s) {\n\troot {args[1]}\n}\nx.com {\n\timport s /srv\n\tfile_server\n}", want: "Caddyfile:2:7: {args[1]} is out of range: the import at Caddyfile:5:2 passes 1 argument(s)"},
		{name: "snippet redefined", src: "(s) {\n}\n(s) {\n}", want: "Caddyfile:3:1: snippet (s) is already defined at Caddyfile:1:1"},
		{name: "snippet not closed", src: "(s) {\n\troot /x\n", want: "Caddyfile:1:5: '{' is never closed"},
		{name: "import without name", src: "a.com {\n\timport\n}", want: "Caddyfile:2:2: import: want a file"},
		{name: "import with block", src: "a.com {\n\timport s {\n\t}\n}", want: "Caddyfile:2:11: import takes no block"},
		{name: "snippet inside site", src: "a.com {\n\t(s) {\n\t}\n}", want: "Caddyfile:2:2: unknown directive \"(s)\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"Caddyfile": tc.src}
			for k, v := range tc.files {
				files[k] = v
			}
			_, dir, err := parseFiles(t, files, nil)
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

func TestEnv(t *testing.T) {
	env := map[string]string{
		"TOKEN": "tok",
		"SEEDS": " 10.0.0.1:7946\t10.0.0.2:7946 ",
		"EMPTY": "",
		"HOST":  "shop.example.com",
	}
	for _, tc := range []struct {
		name, src string
		get       func(*Config) any
		want      any
	}{
		{name: "set", src: "{\n\tadmin_token {$TOKEN}\n}", get: func(c *Config) any { return c.Global.AdminToken }, want: "tok"},
		{name: "default unused", src: "{\n\tadmin_token {$TOKEN:other}\n}", get: func(c *Config) any { return c.Global.AdminToken }, want: "tok"},
		{name: "default for unset", src: "{\n\tadmin_token {$NOPE:dflt}\n}", get: func(c *Config) any { return c.Global.AdminToken }, want: "dflt"},
		{name: "default for empty", src: "{\n\tadmin_token {$EMPTY:dflt}\n}", get: func(c *Config) any { return c.Global.AdminToken }, want: "dflt"},
		{name: "default with colon", src: "{\n\tadmin {$NOPE:127.0.0.1:1234}\n}", get: func(c *Config) any { return c.Global.Admin }, want: "127.0.0.1:1234"},
		{name: "inside a word", src: "{\n\tadmin_token pre-{$TOKEN}-post\n}", get: func(c *Config) any { return c.Global.AdminToken }, want: "pre-tok-post"},
		{name: "inside quotes", src: "{\n\tadmin_token \"a {$TOKEN} b\"\n}", get: func(c *Config) any { return c.Global.AdminToken }, want: "a tok b"},
		{name: "inside heredoc", src: "{\n\tadmin_token <<X\n\t{$TOKEN}\n\tX\n}", get: func(c *Config) any { return c.Global.AdminToken }, want: "tok"},
		{name: "not in backticks", src: "{\n\tadmin_token `{$TOKEN}`\n}", get: func(c *Config) any { return c.Global.AdminToken }, want: "{$TOKEN}"},
		{name: "not a placeholder", src: "{\n\tadmin_token {$a-b}\n}", get: func(c *Config) any { return c.Global.AdminToken }, want: "{$a-b}"},
		{name: "whole token splits", src: "{\n\tcluster c {\n\t\tdiscover static {$SEEDS} 10.0.0.3:7946\n\t}\n}", get: func(c *Config) any { return c.Global.Cluster.Discover[0].Addrs }, want: []string{"10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946"}},
		{name: "quoted does not split", src: "{\n\tadmin_token \"{$SEEDS}\"\n}", get: func(c *Config) any { return c.Global.AdminToken }, want: " 10.0.0.1:7946\t10.0.0.2:7946 "},
		{name: "unset whole token vanishes", src: "a.com {\n\ttrusted_proxies {$NOPE} 10.0.0.0/8\n}", get: func(c *Config) any { return len(c.Sites[0].TrustedProxies) }, want: 1},
		{name: "site address", src: "{$HOST} {\n}", get: func(c *Config) any { return c.Sites[0].Addresses[0].Host }, want: "shop.example.com"},
		{name: "brace from env is not a block", src: "a.com {\n\troot {$NOPE:{}}\n\tfile_server\n}", get: func(c *Config) any { return c.Sites[0].FileServer.Root }, want: "{}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseOptions{LookupEnv: envOf(env)}.Parse("Caddyfile", []byte(tc.src))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.src, err)
			}
			if got := tc.get(cfg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %#v; want %#v", tc.src, got, tc.want)
			}
		})
	}
}

func TestEnvDefaultLookup(t *testing.T) {
	t.Setenv("TETHER_TEST_TOKEN", "from-process")
	cfg, err := Parse("Caddyfile", []byte("{\n\tadmin_token {$TETHER_TEST_TOKEN}\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Global.AdminToken; got != "from-process" {
		t.Errorf("AdminToken = %q; want from-process (os.LookupEnv by default)", got)
	}
}

func TestImports(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "glob in sorted order, relative to the importing file",
			files: map[string]string{
				"Caddyfile":        "a.com {\n\timport sites/*.caddy\n}\n",
				"sites/b.caddy":    "reverse_proxy /b/* http://b\n",
				"sites/a.caddy":    "reverse_proxy /a/* http://a\nimport ../more/c.caddy\n",
				"more/c.caddy":     "reverse_proxy /c/* http://c\n",
				"sites/skip.other": "not imported\n",
			},
			check: func(t *testing.T, c *Config) {
				var got []string
				for _, b := range c.Sites[0].Balancers {
					got = append(got, b.Paths[0]+"@"+filepath.Base(b.Pos.File))
				}
				want := []string{"/a/*@a.caddy", "/c/*@c.caddy", "/b/*@b.caddy"}
				if !slices.Equal(got, want) {
					t.Errorf("balancers = %v; want %v", got, want)
				}
			},
		},
		{
			name:  "glob matching nothing is fine",
			files: map[string]string{"Caddyfile": "import conf.d/*\na.com {\n}\n"},
			check: func(t *testing.T, c *Config) {
				if len(c.Sites) != 1 {
					t.Errorf("sites = %d; want 1", len(c.Sites))
				}
			},
		},
		{
			name: "glob skips the importing file",
			files: map[string]string{
				"Caddyfile": "import *\n",
				"site":      "a.com {\n}\n",
			},
			check: func(t *testing.T, c *Config) {
				if len(c.Sites) != 1 || c.Sites[0].Addresses[0].Host != "a.com" {
					t.Errorf("sites = %+v; want a.com only", c.Sites)
				}
			},
		},
		{
			name: "file import with arguments, whole sites",
			files: map[string]string{
				"Caddyfile":  "import site.tmpl a.com http://10.0.0.1\nimport site.tmpl b.com http://10.0.0.2\n",
				"site.tmpl":  "{args[0]} {\n\treverse_proxy {args[1:]}\n}\n",
				"unused.txt": "",
			},
			check: func(t *testing.T, c *Config) {
				if len(c.Sites) != 2 || c.Sites[1].Balancers[0].Members[0].URL != "http://10.0.0.2:80" || c.Sites[1].Balancers[0].Name != "b.com-1" {
					t.Errorf("sites = %s", dump(c.Sites))
				}
			},
		},
		{
			name: "snippet defined in an imported file",
			files: map[string]string{
				"Caddyfile":      "import snippets.caddy\na.com {\n\timport proxy /x/* http://x:1\n}\n",
				"snippets.caddy": "(proxy) {\n\treverse_proxy {args[:]}\n}\n",
			},
			check: func(t *testing.T, c *Config) {
				b := c.Sites[0].Balancers[0]
				if !slices.Equal(b.Paths, []string{"/x/*"}) || b.Members[0].Name != "x:1" {
					t.Errorf("balancer = %s", dump(b))
				}
			},
		},
		{
			name: "snippet importing a snippet with arguments",
			files: map[string]string{
				"Caddyfile": "(member) {\n\tbackend {args[0]} http://{args[0]}:8080 {\n\t\tweight {args[1]}\n\t}\n}\n" +
					"(pool) {\n\treverse_proxy {\n\t\timport member {args[0]} 1\n\t\timport member {args[1]} 3\n\t}\n}\n" +
					"a.com {\n\timport pool t1 t2\n}\n",
			},
			check: func(t *testing.T, c *Config) {
				ms := c.Sites[0].Balancers[0].Members
				if len(ms) != 2 || ms[1].Name != "t2" || ms[1].URL != "http://t2:8080" || ms[1].Weight != 3 {
					t.Errorf("members = %s", dump(ms))
				}
			},
		},
		{
			name: "args joined inside a token and sliced",
			files: map[string]string{
				"Caddyfile": "(s) {\n\taccess_log \"{args[:]}\"\n\ttrusted_proxies {args[1:2]} {args[5:]}\n}\na.com {\n\timport s x 10.0.0.0/8 z\n}\n",
			},
			check: func(t *testing.T, c *Config) {
				s := c.Sites[0]
				if s.AccessLog.Output != "x 10.0.0.0/8 z" {
					t.Errorf("access log output = %q; want %q", s.AccessLog.Output, "x 10.0.0.0/8 z")
				}
				if len(s.TrustedProxies) != 1 || s.TrustedProxies[0].String() != "10.0.0.0/8" {
					t.Errorf("trusted proxies = %v; want [10.0.0.0/8]", s.TrustedProxies)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := parseFiles(t, tc.files, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tc.check(t, cfg)
		})
	}
}

// TestImportNotRegular checks an import of something that is not a
// regular file fails instead of reading forever.
func TestImportNotRegular(t *testing.T) {
	_, err := Parse("Caddyfile", []byte("import /dev/zero\n"))
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("import /dev/zero: error = %v; want not a regular file", err)
	}
}

func TestImportJK(t *testing.T) {
	src := []byte("a.com {\n\treverse_proxy /x/* http://x\n\timport_jk jk/workers.properties /etc/uriworkermap.properties {\n\t\tdoc_root /var/www/html\n\t}\n\tfile_server\n}\n")
	for _, tc := range []struct {
		name    string
		hook    func(s *Site) error
		wantErr string
	}{
		{name: "loader adds a balancer", hook: func(s *Site) error {
			b := DefaultBalancer()
			b.Name = "lb"
			b.Members = []Member{{Name: "w1", URL: "ajp://10.0.0.1:8009", Redirect: "w2"}, {Name: "w2", URL: "ajp://10.0.0.2:8009", State: "disabled"}}
			s.Balancers = append(s.Balancers, b)
			return nil
		}},
		{name: "loader error without position", hook: func(s *Site) error {
			return errors.New("workers.properties: no lb worker")
		}, wantErr: "conf/Caddyfile:3:2: import_jk: workers.properties: no lb worker"},
		{name: "loader error with position", hook: func(s *Site) error {
			return &Error{Pos: Pos{File: s.ImportJK.Workers, Line: 7, Col: 1}, Msg: "bad lbfactor"}
		}, wantErr: "conf/jk/workers.properties:7:1: bad lbfactor"},
		{name: "loader member with bad state", hook: func(s *Site) error {
			b := DefaultBalancer()
			b.Name, b.Pos = "lb", Pos{File: "workers.properties", Line: 3, Col: 1}
			b.Members = []Member{{Name: "w1", URL: "ajp://10.0.0.1:8009", State: "paused", Pos: Pos{File: "workers.properties", Line: 4, Col: 1}}}
			s.Balancers = append(s.Balancers, b)
			return nil
		}, wantErr: "workers.properties:4:1: member w1: unknown state \"paused\""},
		{name: "loader balancer name clash", hook: func(s *Site) error {
			b := DefaultBalancer()
			b.Name = "a.com-1"
			b.Members = []Member{{Name: "w1", URL: "ajp://10.0.0.1:8009"}}
			s.Balancers = append(s.Balancers, b)
			return nil
		}, wantErr: "conf/Caddyfile:3:2: balancer name \"a.com-1\" is already used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen ImportJK
			ExpandImportJK = func(s *Site) error {
				seen = *s.ImportJK
				return tc.hook(s)
			}
			t.Cleanup(func() { ExpandImportJK = nil })
			cfg, err := Parse("conf/Caddyfile", src)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v; want prefix %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := ImportJK{Workers: filepath.Join("conf", "jk", "workers.properties"), URIWorkers: "/etc/uriworkermap.properties", DocRoot: "/var/www/html", Pos: Pos{File: "conf/Caddyfile", Line: 3, Col: 2}}
			if !reflect.DeepEqual(seen, want) {
				t.Errorf("hook saw ImportJK %+v; want %+v", seen, want)
			}
			s := cfg.Sites[0]
			if len(s.Balancers) != 2 || s.Balancers[1].Members[0].Weight != 1 || s.Balancers[1].Members[0].State != "active" {
				t.Errorf("balancers = %s; want the loader's with member defaults", dump(s.Balancers))
			}
			if s.FileServer.Root != "/var/www/html" {
				t.Errorf("file_server root = %q; want doc_root /var/www/html", s.FileServer.Root)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{in: "0", want: 0, wantOK: true},
		{in: "500ms", want: 500 * time.Millisecond, wantOK: true},
		{in: "1h30m", want: 90 * time.Minute, wantOK: true},
		{in: "1d", want: 24 * time.Hour, wantOK: true},
		{in: "1.5d", want: 36 * time.Hour, wantOK: true},
		{in: "1d12h30s", want: 36*time.Hour + 30*time.Second, wantOK: true},
		{in: "2us", want: 2 * time.Microsecond, wantOK: true},
		{in: "5", wantOK: false},
		{in: "5x", wantOK: false},
		{in: "-5s", wantOK: false},
		{in: "", wantOK: false},
		{in: "d", wantOK: false},
		{in: "1e3s", wantOK: false},
		{in: "999999999d", wantOK: false},
		{in: "106751d106751d", wantOK: false},
	} {
		got, err := ParseDuration(tc.in)
		if got != tc.want || (err == nil) != tc.wantOK {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.wantOK)
		}
	}
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		want    Address
		wantErr bool
	}{
		{raw: "shop.example.com", want: Address{Host: "shop.example.com"}},
		{raw: "Shop.Example.com:8443", want: Address{Host: "shop.example.com", Port: 8443}},
		{raw: "http://:8080", want: Address{Scheme: "http", Port: 8080}},
		{raw: "HTTPS://x", want: Address{Scheme: "https", Host: "x"}},
		{raw: "https://[::1]:8443", want: Address{Scheme: "https", Host: "::1", Port: 8443}},
		{raw: "[fe80::1]", want: Address{Host: "fe80::1"}},
		{raw: "*.example.com", want: Address{Host: "*.example.com"}},
		{raw: "http://127.0.0.1:0", want: Address{Scheme: "http", Host: "127.0.0.1"}},
		{raw: ":443", want: Address{Port: 443}},
		{raw: "localhost:", wantErr: true},
		{raw: "[::1", wantErr: true},
		{raw: "[::1]x", wantErr: true},
		{raw: "[10.0.0.1]", wantErr: true},
		{raw: "a.com:-1", wantErr: true},
		{raw: "a b", wantErr: true},
		{raw: "unix://sock", wantErr: true},
	} {
		got, err := parseAddress(tc.raw)
		tc.want.Raw = tc.raw
		if (err != nil) != tc.wantErr || !tc.wantErr && got != tc.want {
			t.Errorf("parseAddress(%q) = %+v, %v; want %+v, error %v", tc.raw, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := ParseOptions{LookupEnv: envOf(nil)}.Parse("Caddyfile", []byte("{\n\tcluster c\n}\na.com {\n\treverse_proxy {\n\t\tbackend t1 http://x\n\t\tdiscover cluster app\n\t}\n\tfile_server {\n\t\troot /srv\n\t}\n}"))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Global
	if g.Admin != "127.0.0.1:9180" || g.HTTPPort != 80 || g.HTTPSPort != 443 || g.ShutdownTimeout != 30*time.Second || g.Storage.Kind != "file" || g.Log.Level != "info" {
		t.Errorf("global defaults = %s", dump(g))
	}
	if c := g.Cluster; c.Bind != "0.0.0.0:7946" || c.Profile != "lan" || c.SessionTTL != 30*time.Minute {
		t.Errorf("cluster defaults = %s", dump(c))
	}
	b := cfg.Sites[0].Balancers[0]
	want := DefaultBalancer()
	want.Name, want.Pos, want.Members, want.DiscoverService = "a.com-1", b.Pos, b.Members, "app"
	if !reflect.DeepEqual(b, want) {
		t.Errorf("balancer = %s; want %s", dump(b), dump(want))
	}
	wantDefaults := Balancer{
		Sticky:   Sticky{Mode: "jvmroute", Cookie: "JSESSIONID", PathParam: "jsessionid"},
		LBPolicy: "round_robin", MaxFails: 1, RecoverTime: 30 * time.Second,
		HealthInterval: 5 * time.Second, HealthTimeout: 2 * time.Second, HealthFails: 2, HealthPasses: 1,
		Retries: 1, DialTimeout: 3 * time.Second, ResponseHeaderTimeout: 60 * time.Second,
		IdleTimeout: 90 * time.Second, MaxIdleConns: 256, AJPPacketSize: 8192,
	}
	if got := DefaultBalancer(); !reflect.DeepEqual(*got, wantDefaults) {
		t.Errorf("DefaultBalancer() = %s; want %s", dump(got), dump(wantDefaults))
	}
	if m := b.Members[0]; m.Weight != 1 || m.State != "active" || m.URL != "http://x:80" {
		t.Errorf("member = %+v; want weight 1, state active, URL http://x:80", m)
	}
	if fs := cfg.Sites[0].FileServer; !slices.Equal(fs.Index, []string{"index.html", "index.htm"}) || fs.Browse {
		t.Errorf("file_server = %+v; want index.html index.htm, no browse", fs)
	}
}

// TestDefaultBalancerNames: a balancer's default name is the same on every
// proxy that serves the site, however each writes the site's address
// (scheme, listen IP, port), so the cluster shares its sessions, pins and
// member states.
func TestDefaultBalancerNames(t *testing.T) {
	rp := "\treverse_proxy http://x\n"
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{name: "scheme and port left out", src: "http://shop.example.com:8080 {\n" + rp + rp + "}\n", want: []string{"shop.example.com-1", "shop.example.com-2"}},
		{name: "https default port", src: "shop.example.com {\n" + rp + "}\n", want: []string{"shop.example.com-1"}},
		{name: "lowercased", src: "http://Shop.Example.COM:81 {\n" + rp + "}\n", want: []string{"shop.example.com-1"}},
		{name: "first DNS name, IPs skipped", src: "http://10.0.1.5:80, http://[::1]:80, http://localhost:80, http://b.com:80 {\n" + rp + "}\n", want: []string{"localhost-1"}},
		{name: "only IPs", src: "http://10.0.1.5:80 {\n" + rp + "}\n", want: []string{"default-1"}},
		{name: "no host", src: ":8080 {\n" + rp + "}\n", want: []string{"default-1"}},
		{name: "any host", src: "http://*:8080 {\n" + rp + "}\n", want: []string{"default-1"}},
		{name: "wildcard name", src: "*.tenants.example.com {\n" + rp + "}\n", want: []string{"*.tenants.example.com-1"}},
		{name: "sites sharing a host count on", src: "http://shop:8080 {\n" + rp + "}\nhttp://shop:8081 {\n" + rp + rp + "}\n", want: []string{"shop-1", "shop-2", "shop-3"}},
		{name: "nameless sites count on", src: "http://10.0.0.1:80 {\n" + rp + "}\n:8080 {\n" + rp + "}\n", want: []string{"default-1", "default-2"}},
		{name: "hosts count separately", src: "http://a:80 {\n" + rp + "}\nhttp://b:80 {\n" + rp + "}\nhttp://a:81 {\n" + rp + "}\n", want: []string{"a-1", "b-1", "a-2"}},
		{name: "a named balancer keeps its number", src: "http://a:80 {\n\treverse_proxy /x/* http://x {\n\t\tname x\n\t}\n" + rp + "}\n", want: []string{"x", "a-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("Caddyfile", []byte(tc.src))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.src, err)
			}
			var got []string
			for _, s := range cfg.Sites {
				for _, b := range s.Balancers {
					got = append(got, b.Name)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Parse(%q) balancer names = %q; want %q", tc.src, got, tc.want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Pos: Pos{File: "a/Caddyfile", Line: 3, Col: 14}, Msg: "bad"}
	if got := e.Error(); got != "a/Caddyfile:3:14: bad" {
		t.Errorf("Error() = %q; want a/Caddyfile:3:14: bad", got)
	}
	var err error = e
	if got, ok := errors.AsType[*Error](fmt.Errorf("wrapped: %w", err)); !ok || got != e {
		t.Errorf("errors.AsType did not find the *Error")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v; want os.ErrNotExist", err)
	}
}

// TestExpansionLimit checks snippets that import each other twice over
// (2^30 lines, each producing nothing) fail fast instead of running away.
func TestExpansionLimit(t *testing.T) {
	var b strings.Builder
	for i := range 30 {
		fmt.Fprintf(&b, "(s%d) {\n\timport s%d\n\timport s%d\n}\n", i, i+1, i+1)
	}
	b.WriteString("(s30) {\n}\nimport s0\n")
	start := time.Now()
	_, err := fuzzOptions.Parse("Caddyfile", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "lines after imports") {
		t.Errorf("Parse(exponential snippets) error = %v; want the expansion limit", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse(exponential snippets) took %v", d)
	}
}

func TestShapes(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		sites     int
		addrs     int // addresses of the first site
	}{
		{name: "empty file", src: "", sites: 0},
		{name: "comments only", src: "# nothing\n\n# here\n", sites: 0},
		{name: "global only", src: "{\n\tadmin off\n}\n", sites: 0},
		{name: "empty global block", src: "{}\na.com {\n}", sites: 1, addrs: 1},
		{name: "empty site", src: "a.com {}\nb.com {}", sites: 2, addrs: 1},
		{name: "global then braceless site", src: "{\n\tadmin off\n}\nlocalhost:8080\nreverse_proxy http://x\n", sites: 1, addrs: 1},
		{name: "addresses over lines", src: "a.com,\n  b.com,\n  c.com {\n}", sites: 1, addrs: 3},
		{name: "addresses with spaces and commas", src: "a.com b.com, c.com,d.com {\n}", sites: 1, addrs: 4},
		{name: "quoted address", src: "\"a.com\" {\n}", sites: 1, addrs: 1},
		{name: "crlf file", src: "a.com {\r\n\treverse_proxy http://x\r\n}\r\n", sites: 1, addrs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := fuzzOptions.Parse("Caddyfile", []byte(tc.src))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.src, err)
			}
			if len(cfg.Sites) != tc.sites {
				t.Fatalf("Parse(%q) has %d sites; want %d", tc.src, len(cfg.Sites), tc.sites)
			}
			if tc.sites > 0 && len(cfg.Sites[0].Addresses) != tc.addrs {
				t.Errorf("Parse(%q) first site has %d addresses; want %d", tc.src, len(cfg.Sites[0].Addresses), tc.addrs)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	src := "{\n\tlimits {\n\t\tbody_timeout 5s\n\t\tmax_header_size 32KiB\n\t\tmax_body_size 10MB\n\t}\n}\n" +
		"a.com {\n\tlimits {\n\t\tmax_body_size 0\n\t\tmax_uri_length 1KiB\n\t}\n}\nb.com {\n}\n"
	cfg, err := Parse("Caddyfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Global.Limits
	want := DefaultLimits()
	want.BodyTimeout, want.MaxHeaderSize, want.MaxBodySize = 5*time.Second, 32<<10, 10_000_000
	want.Pos = g.Pos
	if g != want {
		t.Errorf("global limits = %+v; want %+v", g, want)
	}
	site := cfg.Sites[0].Limits
	if site == nil {
		t.Fatal("site a.com has no limits")
	}
	// The site's own values, the global ones for the rest.
	if site.MaxBodySize != 0 || site.MaxURILength != 1<<10 || site.BodyTimeout != 5*time.Second || site.MaxHeaderSize != 32<<10 {
		t.Errorf("a.com limits = %+v; want max_body_size 0, max_uri_length 1KiB, the rest global", *site)
	}
	if cfg.Sites[1].Limits != nil {
		t.Errorf("b.com limits = %+v; want nil (the global ones)", *cfg.Sites[1].Limits)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512", 512, true}, {"0", 0, true}, {"64KiB", 64 << 10, true}, {"64kib", 64 << 10, true},
		{"10MB", 10_000_000, true}, {"1GiB", 1 << 30, true}, {"2gb", 2_000_000_000, true}, {"7B", 7, true},
		{"", 0, false}, {"KB", 0, false}, {"-1", 0, false}, {"1.5MB", 0, false}, {"1XB", 0, false},
		{"9999999999999TiB", 0, false},
	} {
		got, err := parseSize(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

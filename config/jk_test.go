package config

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// jkBase is the workers.properties most attribute cases extend: lines 1-5,
// so a case's first line is line 6.
const jkBase = `worker.list=lb
worker.a.host=10.0.0.1
worker.b.host=10.0.0.2
worker.lb.type=lb
worker.lb.balance_workers=a,b
`

func loadJKTest(workers, uri string, env map[string]string) (*JKImport, error) {
	ufile := ""
	if uri != "" {
		ufile = "u.properties"
	}
	return loadJK("w.properties", []byte(workers), ufile, []byte(uri), envOf(env))
}

func warningsText(ws []Warning) string {
	var s []string
	for _, w := range ws {
		s = append(s, w.String())
	}
	return strings.Join(s, "\n")
}

// TestJKAttributes covers every workers.properties attribute: honoured ones
// by the field they set, the others by their warning at file:line:col.
func TestJKAttributes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		extra   string                  // lines 6.. of workers.properties
		uri     string                  // default "/app/*=lb"
		check   func(b *Balancer) error // on the first balancer
		warn    []string                // substrings of the warnings, in order
		wantErr string                  // prefix of the error
	}{
		// Members.
		{name: "defaults", check: want(func(b *Balancer) bool {
			return b.Name == "lb" && b.Members[0].Name == "a" && b.Members[0].URL == "ajp://10.0.0.1:8009" &&
				b.Members[1].URL == "ajp://10.0.0.2:8009" && b.LBPolicy == "least_requests" && b.Sticky.Mode == "jvmroute" &&
				b.Retries == 1 && b.RecoverTime == 30*time.Second && !b.AJPPing && b.Members[0].Weight == 1 && b.Members[0].State == "active"
		})},
		{name: "route", extra: "worker.a.route=node1\n", check: want(func(b *Balancer) bool { return b.Members[0].Name == "node1" && b.Members[0].Domain == "" })},
		{name: "route with domain", extra: "worker.a.route=dom1.node1\n", check: want(func(b *Balancer) bool {
			return b.Members[0].Name == "dom1.node1" && b.Members[0].Domain == "dom1"
		})},
		{name: "bad route", extra: "worker.a.route=no/route\n", wantErr: "w.properties:6:16: worker a: route \"no/route\" is not a valid member name"},
		{name: "jvm_route deprecated", extra: "worker.a.jvm_route=n1\n", check: want(func(b *Balancer) bool { return b.Members[0].Name == "n1" }),
			warn: []string{"w.properties:6:1: warning: worker.a.jvm_route is deprecated in mod_jk; honoured as route"}},
		{name: "domain", extra: "worker.b.domain=az2\n", check: want(func(b *Balancer) bool { return b.Members[1].Domain == "az2" })},
		{name: "redirect", extra: "worker.a.redirect=b\n", check: want(func(b *Balancer) bool { return b.Members[0].Redirect == "b" })},
		{name: "redirect names a worker", extra: "worker.b.route=n2\nworker.a.redirect=b\n", check: want(func(b *Balancer) bool { return b.Members[0].Redirect == "n2" }),
			warn: []string{"w.properties:7:19: warning: worker.a.redirect=b names a worker, but mod_jk compares redirect with routes; using its route n2"}},
		{name: "redirect unknown", extra: "worker.a.redirect=zz\n", check: want(func(b *Balancer) bool { return b.Members[0].Redirect == "" }),
			warn: []string{"w.properties:6:19: warning: worker.a.redirect=zz matches no route"}},
		{name: "activation", extra: "worker.a.activation=D\nworker.b.activation=stopped\n", check: want(func(b *Balancer) bool {
			return b.Members[0].State == "disabled" && b.Members[1].State == "stopped"
		})},
		{name: "activation unknown", extra: "worker.a.activation=X\n", check: want(func(b *Balancer) bool { return b.Members[0].State == "active" }),
			warn: []string{"w.properties:6:21: warning: worker.a.activation: unknown activation \"X\""}},
		{name: "disabled and stopped deprecated", extra: "worker.a.disabled=true\nworker.b.stopped=1\n", check: want(func(b *Balancer) bool {
			return b.Members[0].State == "disabled" && b.Members[1].State == "stopped"
		}), warn: []string{"6:1: warning: worker.a.disabled is deprecated in mod_jk; honoured as activation=D", "7:1: warning: worker.b.stopped is deprecated"}},
		{name: "lbfactor", extra: "worker.a.lbfactor=3\nworker.b.lbfactor=0\n", check: want(func(b *Balancer) bool { return b.Members[0].Weight == 3 && b.Members[1].Weight == 1 })},
		{name: "lbfactor not a number", extra: "worker.a.lbfactor=high\nworker.b.lbfactor=3k\n", check: want(func(b *Balancer) bool { return b.Members[0].Weight == 1 && b.Members[1].Weight == 3072 }),
			warn: []string{"w.properties:6:19: warning: worker.a.lbfactor: \"high\" is not a whole number; mod_jk reads it as 0 (atoi), so does Tether", "7:19: warning: worker.b.lbfactor: \"3k\" is not a whole number; mod_jk reads it as 3072"}},
		{name: "host and port", extra: "worker.a.port=8010\nworker.b.host=tc2:8011\nworker.b.port=1\n", check: want(func(b *Balancer) bool {
			return b.Members[0].URL == "ajp://10.0.0.1:8010" && b.Members[0].State == "active" && b.Members[1].URL == "ajp://tc2:8011" && b.Members[1].State == "stopped"
		}), warn: []string{"w.properties:7:1: warning: worker.b.host is set again (first at w.properties:3:1); the last value wins",
			"w.properties:7:1: warning: worker.b.host=tc2:8011: it embeds a port: mod_jk's documentation allows host:port, but mod_jk 1.2.48 hands it whole to the resolver, which fails",
			"the member is stopped (activation S), so is it in Tether (at ajp://tc2:8011)"}},
		{name: "shell variable host", extra: "worker.b.host=$TOMCAT_IP\n", check: want(func(b *Balancer) bool {
			return b.Members[1].State == "stopped" && b.Members[1].URL == "ajp://invalid:8009"
		}), warn: []string{"6:1: warning: worker.b.host=$TOMCAT_IP: it looks like a shell variable, which mod_jk does not expand (its variables are $(NAME)); mod_jk cannot resolve it"}},
		{name: "host with illegal characters", extra: "worker.b.host=tomcat/2\n", check: want(func(b *Balancer) bool { return b.Members[1].State == "stopped" }),
			warn: []string{"6:1: warning: worker.b.host=tomcat/2: it is neither an IP address nor a host name; mod_jk cannot resolve it"}},
		{name: "port zero", extra: "worker.b.port=0\n", check: want(func(b *Balancer) bool { return b.Members[1].State == "stopped" }),
			warn: []string{"6:1: warning: worker.b.port=0: mod_jk 1.2.48 disables the worker's contact; the member is stopped"}},
		{name: "empty host keeps the default", extra: "worker.b.host=\n", check: want(func(b *Balancer) bool { return b.Members[1].URL == "ajp://10.0.0.2:8009" }),
			warn: []string{"6:1: warning: worker.b.host has an empty value: the line is skipped, as mod_jk skips it"}},
		{name: "empty host of a worker without one is localhost", extra: "worker.lb.balance_workers=c\nworker.c.host=\nworker.c.port=8010\n", check: want(func(b *Balancer) bool { return b.Members[2].URL == "ajp://localhost:8010" }),
			warn: []string{"7:1: warning: worker.c.host has an empty value"}},
		{name: "ipv6 host", extra: "worker.a.host=::1\nworker.b.host=[fe80::1]:8010\n", check: want(func(b *Balancer) bool {
			return b.Members[0].URL == "ajp://[::1]:8009" && b.Members[1].URL == "ajp://[fe80::1]:8010"
		}), warn: []string{"6:1: warning: worker.a.host is set again", "7:1: warning: worker.b.host is set again"}},
		{name: "bad port", extra: "worker.a.port=99999\n", wantErr: "w.properties:6:15: worker.a.port: 99999 is out of range 0..65535"},
		{name: "member without properties", extra: "worker.lb.balance_workers=c\n", check: want(func(b *Balancer) bool {
			return len(b.Members) == 3 && b.Members[2].URL == "ajp://localhost:8009"
		}), warn: []string{"w.properties:6:27: warning: worker c has no properties"}},
		{name: "member of type lb", extra: "worker.b.type=lb\n", wantErr: "w.properties:6:15: worker b is a member of lb worker lb but has type lb"},
		{name: "member of type ajp12", extra: "worker.b.type=ajp12\n", check: want(func(b *Balancer) bool { return len(b.Members) == 1 && b.Members[0].Name == "a" }),
			warn: []string{"w.properties:6:1: warning: worker.b.type=ajp12: mod_jk 1.2.48 balances requests to it over AJP12, which Tether does not speak (nor Tomcat since 5.5); not a member of lb in Tether"}},
		{name: "member ajp14", extra: "worker.b.type=ajp14\n", warn: []string{"6:1: warning: worker.b.type=ajp14 is obsolete"}},
		{name: "member listed twice", extra: "worker.lb.balance_workers=a\n", wantErr: "w.properties:6:27: worker.lb.balance_workers: a is listed twice"},
		{name: "balanced_workers beside balance_workers", extra: "worker.lb.balanced_workers=c\nworker.c.host=h\n", check: want(func(b *Balancer) bool { return len(b.Members) == 2 }),
			warn: []string{"6:1: warning: worker.lb.balanced_workers is deprecated and not used: mod_jk reads it only without balance_workers"}},
		{name: "duplicate routes", extra: "worker.b.route=a\n", wantErr: "w.properties:6:16: member name \"a\" is used twice in balancer lb"},

		// Stickiness and balancing.
		{name: "sticky_session off", extra: "worker.lb.sticky_session=0\n", check: want(func(b *Balancer) bool { return b.Sticky.Mode == "off" })},
		{name: "sticky_session No", extra: "worker.lb.sticky_session=No\n", check: want(func(b *Balancer) bool { return b.Sticky.Mode == "off" })},
		{name: "sticky_session bad", extra: "worker.lb.sticky_session=maybe\n", check: want(func(b *Balancer) bool { return b.Sticky.Mode == "jvmroute" }),
			warn: []string{"w.properties:6:26: warning: worker.lb.sticky_session: \"maybe\" is not a boolean"}},
		{name: "sticky_session_force", extra: "worker.lb.sticky_session_force=True\n", check: want(func(b *Balancer) bool { return b.Sticky.Force })},
		{name: "session cookie and path", extra: "worker.lb.session_cookie=SID\nworker.lb.session_path=;sid\n", check: want(func(b *Balancer) bool {
			return b.Sticky.Cookie == "SID" && b.Sticky.PathParam == "sid"
		})},
		{name: "method busyness", extra: "worker.lb.method=Busyness\n", check: want(func(b *Balancer) bool { return b.LBPolicy == "least_busy" })},
		{name: "method request", extra: "worker.lb.method=r\n", check: want(func(b *Balancer) bool { return b.LBPolicy == "least_requests" })},
		{name: "method traffic", extra: "worker.lb.method=T\n", check: want(func(b *Balancer) bool { return b.LBPolicy == "least_requests" }),
			warn: []string{"w.properties:6:18: warning: worker.lb.method=T: balancing by traffic"}},
		{name: "method session", extra: "worker.lb.method=Session\n", warn: []string{"6:18: warning: worker.lb.method=Session: balancing by new sessions"}},
		{name: "method next", extra: "worker.lb.method=Next\n", check: want(func(b *Balancer) bool { return b.LBPolicy == "round_robin" }),
			warn: []string{"6:18: warning: worker.lb.method=Next: Next is not supported"}},
		{name: "method unknown", extra: "worker.lb.method=Z\n", warn: []string{"6:18: warning: worker.lb.method: unknown method \"Z\""}},
		{name: "retries", extra: "worker.lb.retries=1\nworker.lb.lb_retries=1\n", check: want(func(b *Balancer) bool { return b.Retries == 0 })},
		{name: "retries many members", extra: "worker.lb.balance_workers=c,d\nworker.c.host=c\nworker.d.host=d\nworker.lb.retries=3\n", check: want(func(b *Balancer) bool { return b.Retries == 3 })},
		{name: "recover_time", extra: "worker.lb.recover_time=20\n", check: want(func(b *Balancer) bool { return b.RecoverTime == 20*time.Second })},
		{name: "recover_time zero", extra: "worker.lb.recover_time=0\n", check: want(func(b *Balancer) bool { return b.RecoverTime == 30*time.Second }),
			warn: []string{"6:1: warning: worker.lb.recover_time=0"}},

		// Health and failure detection.
		{name: "fail_on_status", extra: "worker.a.fail_on_status=500,503\nworker.b.fail_on_status=500, 503\n", check: want(func(b *Balancer) bool {
			return slices.Equal(b.FailOnStatus, []int{500, 503})
		})},
		{name: "fail_on_status negative", extra: "worker.a.fail_on_status=503,-404\nworker.b.fail_on_status=503\n", check: want(func(b *Balancer) bool {
			return slices.Equal(b.FailOnStatus, []int{503})
		}), warn: []string{"w.properties:6:29: warning: worker.a.fail_on_status: -404 (fail the request but not the member) is not supported"}},
		{name: "fail_on_status differs", extra: "worker.a.fail_on_status=500\n", check: want(func(b *Balancer) bool { return slices.Equal(b.FailOnStatus, []int{500}) }),
			warn: []string{"6:1: warning: fail_on_status: the members of lb set different statuses"}},
		{name: "fail_on_status bad", extra: "worker.a.fail_on_status=500,5x\n", wantErr: "w.properties:6:29: worker.a.fail_on_status: \"5x\" is not an HTTP status code"},
		{name: "ping_mode", extra: "worker.a.ping_mode=A\nworker.b.ping_mode=CI\nworker.a.ping_timeout=3000\nworker.b.ping_timeout=3000\n", check: want(func(b *Balancer) bool {
			return b.AJPPing && b.HealthTimeout == 3*time.Second && b.HealthInterval == 5*time.Second
		})},
		{name: "ping_mode default timeout", extra: "worker.a.ping_mode=P\nworker.b.ping_mode=P\n", check: want(func(b *Balancer) bool { return b.AJPPing && b.HealthTimeout == 10*time.Second })},
		{name: "ping on some members", extra: "worker.a.ping_mode=P\n", check: want(func(b *Balancer) bool { return b.AJPPing }),
			warn: []string{"6:1: warning: CPing probes are set for a but not for b"}},
		{name: "ping_mode unknown letter", extra: "worker.a.ping_mode=X\nworker.b.ping_mode=X\n", check: want(func(b *Balancer) bool { return !b.AJPPing }),
			warn: []string{"6:20: warning: worker.a.ping_mode: unknown probe 'X'"}},
		{name: "connect_timeout enables ping", extra: "worker.a.connect_timeout=4000\nworker.b.connect_timeout=4000\n", check: want(func(b *Balancer) bool {
			return b.AJPPing && b.HealthTimeout == 4*time.Second && b.DialTimeout == 3*time.Second
		})},
		{name: "prepost_timeout and interval", extra: "worker.a.prepost_timeout=1500\nworker.b.prepost_timeout=1500\nworker.a.connection_ping_interval=30\nworker.b.connection_ping_interval=30\n",
			check: want(func(b *Balancer) bool {
				return b.AJPPing && b.HealthTimeout == 1500*time.Millisecond && b.HealthInterval == 30*time.Second
			})},

		// Timeouts.
		{name: "socket_connect_timeout", extra: "worker.a.socket_connect_timeout=1500\nworker.b.socket_connect_timeout=1500\n", check: want(func(b *Balancer) bool { return b.DialTimeout == 1500*time.Millisecond })},
		{name: "socket_timeout", extra: "worker.a.socket_timeout=7\nworker.b.socket_timeout=7\n", check: want(func(b *Balancer) bool {
			return b.DialTimeout == 7*time.Second && b.ResponseHeaderTimeout == 7*time.Second
		})},
		{name: "reply_timeout", extra: "worker.a.reply_timeout=30000\nworker.b.reply_timeout=30000\n", check: want(func(b *Balancer) bool { return b.ResponseHeaderTimeout == 30*time.Second })},
		{name: "reply_timeout differs", extra: "worker.a.reply_timeout=30000\nworker.b.reply_timeout=45000\n", check: want(func(b *Balancer) bool { return b.ResponseHeaderTimeout == 45*time.Second }),
			warn: []string{"6:1: warning: worker.a.reply_timeout: the members of lb set different values; Tether has one per balancer and uses 45s"}},
		{name: "reply_timeout on one member", extra: "worker.a.reply_timeout=30000\n", check: want(func(b *Balancer) bool { return b.ResponseHeaderTimeout == 30*time.Second }),
			warn: []string{"6:1: warning: worker.a.reply_timeout: set for some members of lb but not for b"}},
		{name: "reply_timeout zero keeps the finite default", extra: "worker.a.reply_timeout=0\nworker.b.reply_timeout=0\n", check: want(func(b *Balancer) bool { return b.ResponseHeaderTimeout == time.Minute })},
		{name: "connection_pool_timeout", extra: "worker.a.connection_pool_timeout=600\nworker.b.connection_pool_timeout=600\n", check: want(func(b *Balancer) bool { return b.IdleTimeout == 10*time.Minute })},
		{name: "socket_keepalive", extra: "worker.a.socket_keepalive=true\n"},

		// AJP.
		{name: "secret on lb", extra: "worker.lb.secret=s3cret\n", check: want(func(b *Balancer) bool { return b.AJPSecret == "s3cret" })},
		{name: "secret on members", extra: "worker.a.secret=x\nworker.b.secret=x\n", check: want(func(b *Balancer) bool { return b.AJPSecret == "x" })},
		{name: "secrets differ", extra: "worker.a.secret=x\nworker.b.secret=y\n", wantErr: "w.properties:7:1: the members of lb have different AJP secrets"},
		{name: "secret on one member", extra: "worker.a.secret=x\n", wantErr: "w.properties:6:1: the members of lb have different AJP secrets"},
		{name: "max_packet_size", extra: "worker.a.max_packet_size=65536\nworker.b.max_packet_size=65536\n", check: want(func(b *Balancer) bool { return b.AJPPacketSize == 65536 })},
		{name: "max_packet_size small", extra: "worker.a.max_packet_size=4096\nworker.b.max_packet_size=4096\n", check: want(func(b *Balancer) bool { return b.AJPPacketSize == 8192 }),
			warn: []string{"6:1: warning: worker.a.max_packet_size=4096: Tether's smallest AJP packet is 8192 bytes"}},
		{name: "max_packet_size differs", extra: "worker.a.max_packet_size=16384\n", wantErr: "w.properties:6:1: the members of lb have different max_packet_size"},

		// Warned: not supported.
		{name: "source", extra: "worker.a.source=10.9.9.9\n", warn: []string{"w.properties:6:1: warning: worker.a.source: not supported"}},
		{name: "prefer_ipv6", extra: "worker.a.prefer_ipv6=true\nworker.b.prefer_ipv6=false\n", warn: []string{"6:1: warning: worker.a.prefer_ipv6=true: not supported"}},
		{name: "member retries", extra: "worker.a.retries=3\nworker.b.retries=2\n", warn: []string{"6:1: warning: worker.a.retries=3: per-member connection retries are not supported"}},
		{name: "retry_interval", extra: "worker.a.retry_interval=500\nworker.lb.retry_interval=200\n", warn: []string{"6:1: warning: worker.a.retry_interval=500: not supported", "7:1: warning: worker.lb.retry_interval=200"}},
		{name: "recovery_options", extra: "worker.a.recovery_options=3\n", warn: []string{"6:1: warning: worker.a.recovery_options=3: not supported"}},
		{name: "busy_limit", extra: "worker.a.busy_limit=10\n", check: want(func(b *Balancer) bool {
			return b.Members[0].MaxConns == 10 && b.Members[1].MaxConns == 0 && b.MaxQueue == DefaultMaxQueue && b.QueueTimeout == DefaultQueueTimeout
		})},
		{name: "connection pool", extra: "worker.a.connection_pool_size=25\nworker.a.connection_pool_minsize=5\nworker.a.connection_acquire_timeout=100\n",
			check: want(func(b *Balancer) bool { return b.Members[0].MaxConns == 400 && b.Members[1].MaxConns == 0 }),
			warn: []string{"6:1: warning: worker.a.connection_pool_size=25 is per Apache child: with 16 children (httpd's default MaxRequestWorkers 400 ÷ ThreadsPerChild 25; set apache_children in import_jk to yours) mod_jk sends member a at most 25×16 = 400 requests at once; Tether is one process: max_conns 400",
				"7:1: warning: worker.a.connection_pool_minsize: not supported", "8:1: warning: worker.a.connection_acquire_timeout: not mapped"}},
		{name: "connection pool and busy_limit", extra: "worker.a.connection_pool_size=2\nworker.a.busy_limit=20\nworker.b.connection_pool_size=4\nworker.b.busy_limit=20\n",
			check: want(func(b *Balancer) bool { return b.Members[0].MaxConns == 20 && b.Members[1].MaxConns == 20 }),
			warn:  []string{"6:1: warning: worker.a.connection_pool_size=2 is per Apache child", "8:1: warning: worker.b.connection_pool_size=4 is per Apache child: with 16 children (httpd's default MaxRequestWorkers 400 ÷ ThreadsPerChild 25; set apache_children in import_jk to yours) mod_jk sends member b at most 4×16 = 64 requests at once; Tether is one process: max_conns 64, but busy_limit=20 is lower and wins"}},
		{name: "distance", extra: "worker.a.distance=1\n", warn: []string{"6:1: warning: worker.a.distance=1: not supported: Tether has no preference tiers"}},
		{name: "lock", extra: "worker.lb.lock=P\n", warn: []string{"6:1: warning: worker.lb.lock: not needed"}},
		{name: "error_escalation_time", extra: "worker.lb.error_escalation_time=5\n", warn: []string{"6:1: warning: worker.lb.error_escalation_time: not supported"}},
		{name: "max_reply_timeouts", extra: "worker.lb.max_reply_timeouts=3\n", warn: []string{"6:1: warning: worker.lb.max_reply_timeouts=3: not supported"}},
		{name: "set_session_cookie", extra: "worker.lb.set_session_cookie=1\nworker.lb.session_cookie_path=/\n",
			warn: []string{"6:1: warning: worker.lb.set_session_cookie=1: not supported", "7:1: warning: worker.lb.session_cookie_path: not used"}},
		{name: "deprecated cache", extra: "worker.a.cachesize=10\nworker.a.recycle_timeout=10\nworker.a.cache_timeout=10\n",
			warn: []string{"6:1: warning: worker.a.cachesize: deprecated", "7:1: warning: worker.a.recycle_timeout: deprecated", "8:1: warning: worker.a.cache_timeout: deprecated"}},
		{name: "unknown attribute", extra: "worker.a.colour=blue\n", warn: []string{"6:1: warning: worker.a.colour: mod_jk 1.2.48 refuses a workers.properties with this attribute (\"The attribute 'worker.a.colour' is not supported\") and Apache does not start; Tether ignores it"}},
		{name: "JNI attribute", extra: "worker.a.cmd_line=-Xmx1g\n", warn: []string{"6:1: warning: worker.a.cmd_line: an attribute of mod_jk's JNI worker, which is gone: mod_jk 1.2.48 accepts it and ignores it"}},
		{name: "long line read in pieces", extra: "worker.a.secretkey=" + strings.Repeat("k", 8191-19) + "worker.a.port=8011\n", check: want(func(b *Balancer) bool { return b.Members[0].URL == "ajp://10.0.0.1:8011" }),
			warn: []string{"6:1: warning: line longer than 8191 bytes: mod_jk reads it in pieces of 8191 bytes"}},
		{name: "ajp attribute on lb", extra: "worker.lb.host=x\n", warn: []string{"6:1: warning: worker.lb.host: has no effect on a worker of type lb (it is for ajp13 workers)"}},
		{name: "lb attribute on member", extra: "worker.a.sticky_session=0\n", warn: []string{"6:1: warning: worker.a.sticky_session: has no effect on a worker of type ajp13 (it is for lb workers)"}},
		{name: "unknown global", extra: "worker.foo=1\n", warn: []string{"6:1: warning: worker.foo: mod_jk 1.2.48 refuses a workers.properties with this attribute (\"The attribute 'worker.foo' is not supported\") and Apache does not start; Tether ignores it"}},
		{name: "worker attribute as a global", extra: "worker.host=x\n", warn: []string{"6:1: warning: worker.host is not a worker attribute (worker.NAME.host); mod_jk accepts it and ignores it"}},
		{name: "maintain", extra: "worker.maintain=10\n", warn: []string{"6:1: warning: worker.maintain is not needed"}},
		{name: "maintain not a number", extra: "worker.maintain=ten\n", warn: []string{"6:1: warning: worker.maintain is not needed", "6:17: warning: worker.maintain: \"ten\" is not a whole number; mod_jk reads it as 0"}},
		{name: "repeated maintain joins", extra: "worker.maintain=10\nworker.maintain=20\n", warn: []string{"7:1: warning: worker.maintain is set again (first at w.properties:6:1): mod_jk joins the values of a repeated worker.maintain into \"10*20\" and reads that", "7:17: warning: worker.maintain: \"10*20\" is not a whole number; mod_jk reads it as 10"}},
		{name: "repeated distance joins", extra: "worker.a.distance=1\nworker.a.distance=0\n", warn: []string{"7:1: warning: worker.a.distance is set again (first at w.properties:6:1): mod_jk joins the values of a repeated worker.a.distance into \"1*0\""}},
		{name: "repeated list joins", extra: "worker.lb.balance_workers=c\nworker.c.host=h\n", check: want(func(b *Balancer) bool { return len(b.Members) == 3 })},
		{name: "repeated fail_on_status joins", extra: "worker.a.fail_on_status=500\nworker.a.fail_on_status=503\nworker.b.fail_on_status=500,503\n",
			check: want(func(b *Balancer) bool { return slices.Equal(b.FailOnStatus, []int{500, 503}) })},
		{name: "bad worker name", extra: "worker.a$b.host=x\n", wantErr: "w.properties:6:1: worker.a$b.host: bad worker name"},
		{name: "unused template", extra: "worker.tmpl.source=x\nworker.tmpl.secretkey=k\n"},
		{name: "unknown attribute of an unused worker", extra: "worker.tmpl.colour=red\n", warn: []string{"6:1: warning: worker.tmpl.colour: mod_jk 1.2.48 refuses"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uri := tc.uri
			if uri == "" {
				uri = "/app/*=lb\n"
			}
			imp, err := loadJKTest(jkBase+tc.extra, uri, nil)
			if err == nil {
				// The site builder validates what the loader made.
				b := &builder{balancers: map[string]Pos{}}
				for _, bal := range imp.Balancers {
					if err = b.checkBalancer(bal, nil, nil); err != nil {
						break
					}
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("loadJK error = %v; want prefix %s", err, tc.wantErr)
				}
				if _, ok := errors.AsType[*Error](err); !ok {
					t.Errorf("loadJK error %T is not an *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadJK: %v", err)
			}
			if tc.check != nil {
				if err := tc.check(imp.Balancers[0]); err != nil {
					t.Errorf("%v: balancer %s", err, dump(imp.Balancers[0]))
				}
			}
			got := warningsText(imp.Warnings)
			if len(tc.warn) == 0 && got != "" {
				t.Errorf("warnings:\n%s\nwant none", got)
			}
			rest := got
			for _, w := range tc.warn {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("warnings:\n%s\nwant (in order) %q", got, w)
					break
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func want(ok func(b *Balancer) bool) func(b *Balancer) error {
	return func(b *Balancer) error {
		if !ok(b) {
			return errors.New("balancer does not match")
		}
		return nil
	}
}

func TestJKReferenceAndVariables(t *testing.T) {
	src := `# a template, a nested template, and variables
base.host=10.1.1.1
worker.list=lb
worker.list=direct
worker.t0.port=8010
worker.t0.secret=$(SECRET)
worker.tmpl.reference=worker.t0
worker.tmpl.host=$(base.host)
worker.tmpl.lbfactor=2
worker.a.reference=worker.tmpl
worker.b.reference=worker.tmpl
worker.b.host=$(B_HOST)
worker.b.port=1$(worker.t0.port)
worker.lb.type=lb
worker.lb.balance_workers=a
worker.lb.balance_workers=b
worker.direct.reference=worker.a
worker.direct.lbfactor=5
`
	imp, err := loadJKTest(src, "/app/*=lb\n/direct/*=direct\n", map[string]string{"SECRET": "from-env", "B_HOST": "tc2"})
	if err != nil {
		t.Fatalf("loadJK: %v", err)
	}
	if len(imp.Balancers) != 2 {
		t.Fatalf("balancers = %s; want lb and direct", dump(imp.Balancers))
	}
	lb, direct := imp.Balancers[0], imp.Balancers[1]
	if lb.Name != "lb" || direct.Name != "direct" {
		lb, direct = direct, lb
	}
	wantMembers := []Member{
		{Name: "a", URL: "ajp://10.1.1.1:8010", Weight: 2, State: "active", Pos: Pos{File: "w.properties", Line: 15, Col: 27}},
		{Name: "b", URL: "ajp://tc2:18010", Weight: 2, State: "active", Pos: Pos{File: "w.properties", Line: 16, Col: 27}},
	}
	if !reflect.DeepEqual(lb.Members, wantMembers) {
		t.Errorf("lb members = %s; want %s", dump(lb.Members), dump(wantMembers))
	}
	if lb.AJPSecret != "from-env" || direct.AJPSecret != "from-env" {
		t.Errorf("secrets = %q, %q; want from-env (inherited through two references, from the environment)", lb.AJPSecret, direct.AJPSecret)
	}
	if len(direct.Members) != 1 || direct.Members[0].Name != "direct" || direct.Members[0].URL != "ajp://10.1.1.1:8010" || direct.Retries != 0 {
		t.Errorf("direct = %s; want one member named direct at 10.1.1.1:8010, no retries", dump(direct))
	}
	// lbfactor means nothing outside an lb: warned for direct (its own line).
	if got := warningsText(imp.Warnings); !strings.Contains(got, "w.properties:18:1: warning: worker.direct.lbfactor: has no effect: worker direct is not a member") {
		t.Errorf("warnings:\n%s\nwant lbfactor on direct has no effect", got)
	}

	for _, tc := range []struct{ name, src, wantErr, wantWarn string }{
		{name: "cycle", src: "worker.list=a\nworker.a.reference=worker.b\nworker.b.reference=worker.a\n", wantErr: "w.properties:2:20: worker.a.reference: references nest deeper"},
		{name: "unknown reference", src: "worker.list=a\nworker.a.reference=worker.zz\n", wantErr: "w.properties:2:20: worker.a.reference: no worker \"zz\""},
		{name: "undefined variable", src: "worker.list=a\nworker.a.secret=x$(NOPE)y\n", wantWarn: "w.properties:2:18: warning: $(NOPE) is neither a property defined above nor an environment variable"},
		{name: "variable defined later", src: "worker.list=a\nworker.a.secret=$(s)\ns=x\n", wantWarn: "w.properties:2:17: warning: $(s) is neither"},
		{name: "duplicate key", src: "worker.list=a\nworker.a.port=1\nworker.a.port=2\n", wantWarn: "w.properties:3:1: warning: worker.a.port is set again (first at w.properties:2:1); the last value wins"},
		{name: "no equals", src: "worker.list=a\nworker.a.port 1\n", wantWarn: "w.properties:2:1: warning: line \"worker.a.port 1\" has no '='"},
		{name: "comment in value", src: "worker.list=a\nworker.a.secret=abc#def\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imp, err := loadJKTest(tc.src, "/=a\n", nil)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("loadJK error = %v; want prefix %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadJK: %v", err)
			}
			if got := warningsText(imp.Warnings); !strings.Contains(got, tc.wantWarn) {
				t.Errorf("warnings:\n%s\nwant %q", got, tc.wantWarn)
			}
			if tc.name == "comment in value" && imp.Balancers[0].AJPSecret != "abc" {
				t.Errorf("secret = %q; want abc ('#' starts a comment anywhere, as in mod_jk)", imp.Balancers[0].AJPSecret)
			}
		})
	}
}

func TestJKBool(t *testing.T) {
	for _, tc := range []struct {
		in      string
		val, ok bool
	}{
		{"1", true, true}, {"0", false, true}, {"on", true, true}, {"OFF", false, true},
		{"true", true, true}, {"False", false, true}, {"yes", true, true}, {"no", false, true},
		{"Y", true, true}, {"nope", false, true}, {"t", true, true}, {"", false, false}, {"maybe", false, false}, {"2", false, false},
	} {
		if val, ok := jkBool(tc.in); val != tc.val || ok != tc.ok {
			t.Errorf("jkBool(%q) = %v, %v; want %v, %v", tc.in, val, ok, tc.val, tc.ok)
		}
	}
}

// jkTwo is a workers.properties with an lb worker and two directly usable
// ajp13 workers, for the mount tests.
const jkTwo = `worker.list=lb,solo,other,jkstatus
worker.a.host=10.0.0.1
worker.b.host=10.0.0.2
worker.lb.type=lb
worker.lb.balance_workers=a,b
worker.solo.host=10.0.0.3
worker.other.host=10.0.0.4
worker.jkstatus.type=status
`

type jkMountWant struct {
	name            string
	paths, excludes []string
}

func TestJKMounts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workers string // default jkTwo
		uri     string
		env     map[string]string
		want    []jkMountWant
		warn    []string
		wantErr string
	}{
		{name: "forms and priority", uri: "*.jsp=lb\n/app=lb\n/app/*=lb\n/*.do=lb\n",
			want: []jkMountWant{{name: "lb", paths: []string{"/app/*", "*.do", "/app"}}},
			warn: []string{"u.properties:1:1: warning: rule *.jsp=lb: the pattern does not start with /: mod_jk 1.2.48 skips the rule (\"invalid context '*.jsp': does not begin with '/'\")"}},
		{name: "exclusions", uri: "/app/*=lb\n!/app/static/*=lb\n-/old/*=lb\n-!/x=lb\n",
			want: []jkMountWant{{name: "lb", paths: []string{"/app/*"}, excludes: []string{"/app/static/*"}}}},
		{name: "exclusion for all workers", uri: "/app/*=lb\n/solo/*=solo\n!/*.gif=*\n",
			want: []jkMountWant{{name: "solo", paths: []string{"/solo/*"}, excludes: []string{"*.gif"}}, {name: "lb", paths: []string{"/app/*"}, excludes: []string{"*.gif"}}}},
		{name: "exclusion with prefix and suffix inside the mounts", uri: "/app/*=lb\n!/app/*.gif=lb\n",
			want: []jkMountWant{{name: "lb", paths: []string{"/app/*"}, excludes: []string{"*.gif"}}}},
		{name: "exclusion with prefix and suffix beyond the mounts", uri: "/app/*=lb\n/*.jsp=lb\n!/app/*.gif=lb\n",
			want: []jkMountWant{{name: "lb", paths: []string{"/app/*", "*.jsp"}, excludes: []string{"*.gif"}}},
			warn: []string{"u.properties:3:1: warning: exclusion !/app/*.gif=lb: Tether patterns match a prefix or a suffix, not both; excluded as *.gif"}},
		{name: "exclusion of nothing", uri: "/app/*=lb\n!/x=other\n", want: []jkMountWant{{name: "lb", paths: []string{"/app/*"}}},
			warn: []string{"u.properties:2:1: warning: exclusion !/x=other excludes nothing"}},
		{name: "prefix and suffix mount", uri: "/app/*.jsp=lb\n", want: []jkMountWant{{name: "lb", paths: []string{"/app/*"}}},
			warn: []string{"u.properties:1:1: warning: rule /app/*.jsp=lb: Tether patterns match a prefix or a suffix, not both; mounted as /app/*"}},
		{name: "question mark", uri: "/app/page?=lb\n", want: []jkMountWant{{name: "lb", paths: []string{"/app/page*"}}},
			warn: []string{"u.properties:1:1: warning: rule /app/page?=lb: '?' and inner '*' are not supported; matched as /app/page*"}},
		{name: "alternation", uri: "/app|/*=lb\n", want: []jkMountWant{{name: "lb", paths: []string{"/app/*", "/app"}}}},
		{name: "everything", uri: "/*=lb\n", want: []jkMountWant{{name: "lb", paths: []string{"/*"}}}},
		{name: "extension", uri: "/app/*=lb;reply_timeout=1000;stateless\n", want: []jkMountWant{{name: "lb", paths: []string{"/app/*"}}},
			warn: []string{"u.properties:1:8: warning: rule /app/*: extension reply_timeout is not supported", "u.properties:1:8: warning: rule /app/*: extension stateless"}},
		{name: "more specific worker first", uri: "/app/*=lb\n/app/admin/*=solo\n",
			want: []jkMountWant{{name: "solo", paths: []string{"/app/admin/*"}}, {name: "lb", paths: []string{"/app/*"}}}},
		{name: "order fixed with an exclusion", uri: "/a/b/c=lb\n/*.jsp=lb\n/x/*=solo\n",
			want: []jkMountWant{{name: "lb", paths: []string{"/a/b/c", "*.jsp"}, excludes: []string{"/x/*"}}, {name: "solo", paths: []string{"/x/*"}}}},
		{name: "order that cannot be expressed", uri: "/x/y/*=lb\n/*.jsp=lb\n/x/*=solo\n",
			want: []jkMountWant{{name: "lb", paths: []string{"/x/y/*", "*.jsp"}}, {name: "solo", paths: []string{"/x/*"}}},
			warn: []string{"u.properties:3:1: warning: rule /x/*=solo: some paths it shares with /*.jsp=lb go to lb, where mod_jk's rule order would send them to solo"}},
		{name: "excluded path falls through", uri: "/app/*=lb\n!/app/img/*=lb\n/*.png=solo\n",
			want: []jkMountWant{{name: "lb", paths: []string{"/app/*"}, excludes: []string{"/app/img/*"}}, {name: "solo", paths: []string{"*.png"}}},
			warn: []string{"u.properties:2:1: warning: exclusion !/app/img/*=lb: paths it excludes that also match /*.png=solo go to solo; mod_jk would serve them from the document root"}},
		{name: "status worker", uri: "/app/*=lb\n/jkstatus=jkstatus\n", want: []jkMountWant{{name: "lb", paths: []string{"/app/*"}}},
			warn: []string{"w.properties:8:1: warning: worker jkstatus is a status worker", "u.properties:2:1: warning: rule /jkstatus=jkstatus mounts a status worker"}},
		{name: "worker not listed", uri: "/app/*=lb\n/b/*=b\n", want: []jkMountWant{{name: "lb", paths: []string{"/app/*"}}},
			warn: []string{"u.properties:2:1: warning: rule /b/*=b: worker b is not in worker.list"}},
		{name: "listed worker not mounted", uri: "/app/*=lb\n/s=solo\n", want: []jkMountWant{{name: "lb", paths: []string{"/app/*"}}, {name: "solo", paths: []string{"/s"}}},
			warn: []string{"w.properties:1:21: warning: worker other is in worker.list but no rule mounts it"}},
		{name: "mount attribute", workers: jkTwo + "worker.lb.mount=/m/* /n\n", uri: "/app/*=lb\n",
			want: []jkMountWant{{name: "lb", paths: []string{"/app/*", "/m/*", "/n"}}}},
		{name: "no uriworkermap", workers: "worker.list=lb\nworker.a.host=h\nworker.lb.type=lb\nworker.lb.balance_workers=a\n",
			want: []jkMountWant{{name: "lb"}}},
		{name: "no uriworkermap, several workers", workers: "worker.list=lb,solo\nworker.a.host=h\nworker.lb.type=lb\nworker.lb.balance_workers=a\n",
			want: []jkMountWant{{name: "lb"}, {name: "solo"}}, warn: []string{"w.properties:1:16: warning: worker.list names several workers but nothing mounts them", "worker solo has no properties"}},
		{name: "default worker.list", workers: "worker.ajp13.port=8010\n", want: []jkMountWant{{name: "ajp13"}}},
		{name: "lb without members", workers: "worker.list=lb\nworker.lb.type=lb\n", wantErr: "w.properties:2:1: lb worker lb has no balance_workers"},
		{name: "pattern without slash", uri: "app/*=lb\n/b=lb\n", want: []jkMountWant{{name: "lb", paths: []string{"/b"}}},
			warn: []string{"u.properties:1:1: warning: rule app/*=lb: the pattern does not start with /: mod_jk 1.2.48 skips the rule"}},
		{name: "star worker for a mount", uri: "/app/*=*\n/b=lb\n", want: []jkMountWant{{name: "lb", paths: []string{"/b"}}},
			warn: []string{"u.properties:1:1: warning: rule /app/*=*: the worker * only means \"every worker\" in an exclusion"}},
		{name: "no worker", uri: "/app/*=\n/b/*=lb\n", want: []jkMountWant{{name: "lb", paths: []string{"/b/*"}}},
			warn: []string{"u.properties:1:1: warning: /app/* has an empty value: the line is skipped, as mod_jk skips it"}},
		{name: "repeated pattern keeps the last worker", uri: "/app/*=solo\n/app/*=lb\n", want: []jkMountWant{{name: "lb", paths: []string{"/app/*"}}},
			warn: []string{"u.properties:2:1: warning: /app/* is set again (first at u.properties:1:1); the last value wins, as in mod_jk (\"Duplicate key ... overwritten\")", "worker solo is in worker.list but no rule mounts it"}},
		{name: "variables in uriworkermap values, not keys", uri: "/v=$(W)\n$(V)/*=lb\n", env: map[string]string{"V": "/shop", "W": "lb"}, want: []jkMountWant{{name: "lb", paths: []string{"/v"}}},
			warn: []string{"u.properties:2:1: warning: rule $(V)/*=lb: the pattern does not start with /: mod_jk 1.2.48 skips the rule"}},
		{name: "ajp12 worker not routed", workers: "worker.list=x,y\nworker.x.type=ajp12\nworker.y.port=8010\n", uri: "/x/*=x\n/y/*=y\n", want: []jkMountWant{{name: "y", paths: []string{"/y/*"}}},
			warn: []string{"w.properties:2:1: warning: worker.x.type=ajp12: mod_jk 1.2.48 sends the requests mounted on it over AJP12, which Tether does not speak"}},
		{name: "unsupported type", workers: "worker.list=x\nworker.x.type=jni\n", uri: "/=x\n", wantErr: "w.properties:2:15: worker x: type jni is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			workers := tc.workers
			if workers == "" {
				workers = jkTwo
			}
			imp, err := loadJKTest(workers, tc.uri, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("loadJK error = %v; want prefix %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadJK: %v", err)
			}
			var got []jkMountWant
			for _, b := range imp.Balancers {
				got = append(got, jkMountWant{name: b.Name, paths: b.Paths, excludes: b.Excludes})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("mounts = %+v; want %+v", got, tc.want)
			}
			text := warningsText(imp.Warnings)
			for _, w := range tc.warn {
				if !strings.Contains(text, w) {
					t.Errorf("warnings:\n%s\nwant %q", text, w)
				}
			}
			// jkTwo lists workers most cases do not mount, and jkstatus.
			for _, w := range imp.Warnings {
				if m := w.Msg; !strings.Contains(m, "no rule mounts it") && !strings.Contains(m, "status worker") &&
					!slices.ContainsFunc(tc.warn, func(s string) bool { return strings.Contains(w.String(), s) }) {
					t.Errorf("unexpected warning %s", w)
				}
			}
		})
	}
}

// TestJKMountsWithProxyMatching checks, path by path, that Tether's
// first-matching-balancer choice (Excludes first, as the proxy does) gives
// mod_jk's most-specific-rule answer for a mixed map.
func TestJKMountsWithProxyMatching(t *testing.T) {
	imp, err := loadJKTest(jkTwo, "/app/*=lb\n/app/admin/*=solo\n/*.jsp=other\n/a/b/c=lb\n!/app/static/*=lb\n/static/*=solo\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	route := func(path string) string {
		for _, b := range imp.Balancers {
			if slices.ContainsFunc(b.Excludes, func(p string) bool { return jkOverlap(p, path) }) {
				continue
			}
			if len(b.Paths) == 0 || slices.ContainsFunc(b.Paths, func(p string) bool { return jkOverlap(p, path) }) {
				return b.Name
			}
		}
		return "file_server"
	}
	for path, want := range map[string]string{
		"/app/x":           "lb",
		"/app/x.jsp":       "lb",    // /app/* (2 slashes) beats *.jsp
		"/app/admin/x.jsp": "solo",  // /app/admin/* beats /app/*
		"/x.jsp":           "other", // only *.jsp
		"/a/b/c":           "lb",
		"/app/static/y":    "file_server",
		"/static/y":        "solo",
		"/index.html":      "file_server",
	} {
		if got := route(path); got != want {
			t.Errorf("route(%q) = %s; want %s (balancers %s)", path, got, want, dump(imp.Balancers))
		}
	}
}

// TestJKLabGolden loads the lab's files (tomcat-lab/conf/apache with the
// lab.env values) through import_jk and compares the balancers, the
// warnings and the import-jk Caddyfile with golden files (-update rewrites
// them).
func TestJKLabGolden(t *testing.T) {
	src := []byte("lab.example.com {\n\timport_jk lab.workers.properties lab.uriworkermap.properties {\n\t\tdoc_root /var/www/html\n\t}\n}\n")
	cfg, err := Parse("testdata/jk/Caddyfile", src)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wd, _ := os.Getwd()
	for _, b := range cfg.Sites[0].Balancers {
		b.Source = strings.TrimPrefix(b.Source, wd+string(os.PathSeparator)) // the golden file holds no machine's path
	}
	got := dump(struct {
		Balancers  []*Balancer
		FileServer *FileServer
		Warnings   []Warning
	}{cfg.Sites[0].Balancers, cfg.Sites[0].FileServer, cfg.Warnings})
	golden(t, "testdata/jk/lab.golden.json", got)

	out, warns, err := ParseOptions{}.ImportJKCaddyfile("lab.example.com", ImportJK{
		Workers: "testdata/jk/lab.workers.properties", URIWorkers: "testdata/jk/lab.uriworkermap.properties", DocRoot: "/var/www/html"})
	if err != nil {
		t.Fatalf("ImportJKCaddyfile: %v", err)
	}
	if len(warns) != len(cfg.Warnings) {
		t.Errorf("ImportJKCaddyfile warnings = %d; want %d, as import_jk", len(warns), len(cfg.Warnings))
	}
	golden(t, "testdata/jk/lab.golden.Caddyfile", string(out))
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs; got:\n%s", file, got)
	}
}

// jkRich uses most honoured attributes, for the round trip.
const jkRich = `worker.list=lb,solo
secret=s p{$ace}
worker.tmpl.type=ajp13
worker.tmpl.secret=$(secret)
worker.tmpl.ping_mode=A
worker.tmpl.ping_timeout=2500
worker.tmpl.connection_ping_interval=20
worker.tmpl.socket_connect_timeout=1500
worker.tmpl.reply_timeout=90000
worker.tmpl.connection_pool_timeout=300
worker.tmpl.fail_on_status=500,503
worker.tmpl.max_packet_size=16384
worker.a.reference=worker.tmpl
worker.a.host=10.0.0.1
worker.a.route=east.node1
worker.a.redirect=node2
worker.a.lbfactor=4
worker.b.reference=worker.tmpl
worker.b.host=10.0.0.2
worker.b.route=node2
worker.b.domain=west
worker.b.activation=D
worker.c.reference=worker.tmpl
worker.c.host=10.0.0.3
worker.c.activation=S
worker.lb.type=lb
worker.lb.balance_workers=a,b,c
worker.lb.sticky_session_force=1
worker.lb.session_cookie=SESSION
worker.lb.session_path=;session
worker.lb.method=B
worker.lb.retries=1
worker.lb.recover_time=45
worker.solo.host=10.0.0.9
worker.solo.port=8010
`

func TestJKRoundTrip(t *testing.T) {
	files := map[string]string{
		"rich/workers.properties":      jkRich,
		"rich/uriworkermap.properties": "/app/*=lb\n*.jsp=lb\n!/app/static/*=lb\n/app/admin/*=solo\n/a/b/c=lb\n/x/*=solo\n",
		"sticky/workers.properties":    "worker.list=lb\nworker.a.host=h\nworker.lb.type=lb\nworker.lb.balance_workers=a\nworker.lb.sticky_session=off\n",
		"lab/workers.properties":       mustRead(t, "testdata/jk/lab.workers.properties"),
		"lab/uriworkermap.properties":  mustRead(t, "testdata/jk/lab.uriworkermap.properties"),
	}
	opts := ParseOptions{ReadFile: func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}}
	for _, dir := range []string{"rich", "sticky", "lab"} {
		t.Run(dir, func(t *testing.T) {
			jk := ImportJK{Workers: dir + "/workers.properties", DocRoot: "/srv/www root"}
			if _, ok := files[dir+"/uriworkermap.properties"]; ok {
				jk.URIWorkers = dir + "/uriworkermap.properties"
			}
			imported, err := opts.Parse("Caddyfile", []byte("example.com {\n\timport_jk "+jk.Workers+" "+jk.URIWorkers+" {\n\t\tdoc_root `/srv/www root`\n\t}\n}\n"))
			if err != nil {
				t.Fatalf("Parse import_jk: %v", err)
			}
			out, _, err := opts.ImportJKCaddyfile("example.com", jk)
			if err != nil {
				t.Fatalf("ImportJKCaddyfile: %v", err)
			}
			printed, err := Parse("printed", out)
			if err != nil {
				t.Fatalf("Parse(printed): %v\n%s", err, out)
			}
			if got, want := dump(noPos(printed.Sites[0])), dump(noPos(imported.Sites[0])); got != want {
				t.Errorf("printed Caddyfile:\n%s\nparses to %s\nwant (import_jk) %s", out, got, want)
			}
			if again, _ := SiteCaddyfile(&printed.Sites[0]); string(again) != string(out) {
				t.Errorf("printing is not a fixed point:\n%s\nthen\n%s", out, again)
			}
		})
	}
}

func mustRead(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noPos returns the site's balancers and file server without positions
// (and without ImportJK, which only import_jk records).
func noPos(s Site) any {
	var bals []Balancer
	for _, b := range s.Balancers {
		c := *b
		c.Pos = Pos{}
		c.Source = "" // provenance: the printed reverse_proxy blocks have none
		c.Members = slices.Clone(c.Members)
		for i := range c.Members {
			c.Members[i].Pos = Pos{}
		}
		bals = append(bals, c)
	}
	fs := *s.FileServer
	fs.Pos = Pos{}
	return struct {
		Balancers  []Balancer
		FileServer FileServer
	}{bals, fs}
}

func TestJKThroughParse(t *testing.T) {
	files := map[string]string{
		"/etc/jk/workers.properties":      jkBase + "worker.a.source=x\n",
		"/etc/jk/uriworkermap.properties": "/app/*=lb\n",
	}
	opts := ParseOptions{ReadFile: func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}}
	cfg, err := opts.Parse("Caddyfile", []byte("a.com {\n\treverse_proxy /x/* http://x\n\timport_jk /etc/jk/workers.properties /etc/jk/uriworkermap.properties\n\tfile_server {\n\t\troot /srv\n\t}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sites[0]
	if len(s.Balancers) != 2 || s.Balancers[1].Name != "lb" || s.FileServer.Root != "/srv" {
		t.Errorf("site = %s; want a.com-1, then lb; file_server root /srv", dump(s))
	}
	if len(cfg.Warnings) != 1 || !strings.HasPrefix(cfg.Warnings[0].String(), "/etc/jk/workers.properties:6:1: warning: worker.a.source") {
		t.Errorf("Config.Warnings = %v; want the source warning", cfg.Warnings)
	}
	// Two sites importing one workers.properties share its workers: one
	// balancer lb (same Source), each site with its own mounts, and the
	// warnings once.
	files["/etc/jk/other.properties"] = "/shop/*=lb\n!/shop/img/*=lb\n"
	cfg, err = opts.Parse("Caddyfile", []byte("a.com {\n\timport_jk /etc/jk/workers.properties /etc/jk/uriworkermap.properties\n}\nb.com {\n\timport_jk /etc/jk/workers.properties /etc/jk/other.properties\n}\n"))
	if err != nil {
		t.Fatalf("two sites importing one worker: %v", err)
	}
	a, b := cfg.Sites[0].Balancers[0], cfg.Sites[1].Balancers[0]
	if a.Name != "lb" || b.Name != "lb" || a.Source != "/etc/jk/workers.properties#lb" || a.Source != b.Source ||
		!slices.Equal(a.Paths, []string{"/app/*"}) || !slices.Equal(b.Paths, []string{"/shop/*"}) || !slices.Equal(b.Excludes, []string{"/shop/img/*"}) {
		t.Errorf("balancers = %s and %s; want lb twice, one Source, each site's own mounts", dump(a), dump(b))
	}
	if len(cfg.Warnings) != 1 {
		t.Errorf("Config.Warnings = %v; want the source warning once", cfg.Warnings)
	}
	// A reverse_proxy named like an imported worker still clashes.
	_, err = opts.Parse("Caddyfile", []byte("a.com {\n\timport_jk /etc/jk/workers.properties\n}\nb.com {\n\treverse_proxy http://x {\n\t\tname lb\n\t}\n}\n"))
	if err == nil || !strings.Contains(err.Error(), "balancer name \"lb\" is already used") {
		t.Errorf("reverse_proxy named lb beside import_jk: error = %v; want a balancer name clash", err)
	}
}

func TestJKValueTooLong(t *testing.T) {
	src := "v=0123456789abcdef\n" + strings.Repeat("v=$(v)$(v)\n", 20) + "worker.list=a\n"
	_, err := loadJKTest(src, "", nil)
	// mod_jk joins the repeated v with '*': each line more than doubles it.
	if err == nil || !strings.HasPrefix(err.Error(), "w.properties:9:3: v: the value is longer than 65536 bytes") {
		t.Errorf("loadJK error = %v; want the value too long at line 9", err)
	}
}

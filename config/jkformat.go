package config

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ImportJKCaddyfile returns a Caddyfile with one site at addr that serves
// what "import_jk" of jk would: a reverse_proxy block per balancer, with
// every setting that differs from a reverse_proxy default, and a
// file_server when jk has a DocRoot. Parsing the result gives the same
// balancers as the import_jk directive. Paths in jk are used as given
// (relative to the working directory). Warnings are the loader's; errors
// name file:line:col in the mod_jk files.
func (o ParseOptions) ImportJKCaddyfile(addr string, jk ImportJK) ([]byte, []Warning, error) {
	var src strings.Builder
	fmt.Fprintf(&src, "%s {\n\timport_jk %s", quoteToken(addr), quoteToken(jk.Workers))
	if jk.URIWorkers != "" {
		src.WriteString(" " + quoteToken(jk.URIWorkers))
	}
	if jk.DocRoot != "" {
		fmt.Fprintf(&src, " {\n\t\tdoc_root %s\n\t}", quoteToken(jk.DocRoot))
	}
	src.WriteString("\n}\n")
	cfg, err := o.Parse("import-jk", []byte(src.String()))
	if err != nil {
		return nil, nil, err
	}
	out, err := SiteCaddyfile(&cfg.Sites[0])
	if err != nil {
		return nil, cfg.Warnings, err
	}
	return out, cfg.Warnings, nil
}

// SiteCaddyfile writes s as a site block: its addresses, a reverse_proxy
// block per balancer and its file_server; other site settings (tls,
// trusted_proxies, access_log) are not written. Options equal to a
// reverse_proxy default are left out. It fails only for a value no
// Caddyfile token can carry (one with both a backtick and "{$").
func SiteCaddyfile(s *Site) ([]byte, error) {
	var b bytes.Buffer
	var bad error
	q := func(v string) string {
		t := quoteToken(v)
		if t == "" && bad == nil {
			bad = fmt.Errorf("value %q cannot be written as a Caddyfile token", v)
		}
		return t
	}
	var addrs []string
	for _, a := range s.Addresses {
		addrs = append(addrs, q(a.Raw))
	}
	fmt.Fprintf(&b, "%s {\n", strings.Join(addrs, ", "))
	def := DefaultBalancer()
	for i, bal := range s.Balancers {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("\treverse_proxy")
		for _, p := range bal.Paths {
			b.WriteString(" " + q(p))
		}
		for _, p := range bal.Excludes {
			b.WriteString(" " + q("!"+p))
		}
		b.WriteString(" {\n")
		opt := func(name string, args ...string) {
			b.WriteString("\t\t" + name)
			for _, a := range args {
				b.WriteString(" " + a)
			}
			b.WriteString("\n")
		}
		opt("name", q(bal.Name))
		for _, m := range bal.Members {
			b.WriteString("\t\tbackend " + q(m.Name) + " " + q(m.URL))
			var sub []string
			if m.Weight > 1 {
				sub = append(sub, "weight "+strconv.Itoa(m.Weight))
			}
			if m.Domain != "" {
				sub = append(sub, "domain "+q(m.Domain))
			}
			if m.Redirect != "" {
				sub = append(sub, "redirect "+q(m.Redirect))
			}
			if m.State != "" && m.State != "active" {
				sub = append(sub, "state "+m.State)
			}
			if m.MaxConns > 0 {
				sub = append(sub, "max_conns "+strconv.Itoa(m.MaxConns))
			}
			if len(sub) > 0 {
				b.WriteString(" {\n\t\t\t" + strings.Join(sub, "\n\t\t\t") + "\n\t\t}")
			}
			b.WriteString("\n")
		}
		if bal.DiscoverService != "" {
			opt("discover", "cluster", q(bal.DiscoverService))
		}
		st := bal.Sticky
		switch st.Mode {
		case "learn", "cookie":
			opt("sticky", st.Mode, q(st.Cookie))
		case "jvmroute", "":
			if st.Cookie != "" && st.Cookie != def.Sticky.Cookie {
				opt("sticky_cookie", q(st.Cookie))
			}
		default:
			opt("sticky", st.Mode)
			if st.Cookie != "" && st.Cookie != def.Sticky.Cookie {
				opt("sticky_cookie", q(st.Cookie))
			}
		}
		if st.PathParam != "" && st.PathParam != def.Sticky.PathParam {
			opt("sticky_path_param", q(st.PathParam))
		}
		if st.Force {
			opt("sticky_force", "on")
		}
		if bal.LBPolicy != "" && bal.LBPolicy != def.LBPolicy {
			opt("lb_policy", bal.LBPolicy)
		}
		intOpt := func(name string, v, d int) {
			if v != d && v != 0 {
				opt(name, strconv.Itoa(v))
			}
		}
		durOpt := func(name string, v, d time.Duration) {
			if v != d && v > 0 {
				opt(name, durString(v))
			}
		}
		intOpt("max_fails", bal.MaxFails, def.MaxFails)
		durOpt("recover_time", bal.RecoverTime, def.RecoverTime)
		if len(bal.FailOnStatus) > 0 {
			opt("fail_on_status", intsString(bal.FailOnStatus))
		}
		if bal.HealthURI != "" {
			opt("health_uri", q(bal.HealthURI))
		}
		if bal.AJPPing {
			opt("ajp_ping", "on")
		}
		durOpt("health_interval", bal.HealthInterval, def.HealthInterval)
		durOpt("health_timeout", bal.HealthTimeout, def.HealthTimeout)
		intOpt("health_fails", bal.HealthFails, def.HealthFails)
		intOpt("health_passes", bal.HealthPasses, def.HealthPasses)
		if bal.Retries != def.Retries {
			opt("retries", strconv.Itoa(bal.Retries))
		}
		durOpt("dial_timeout", bal.DialTimeout, def.DialTimeout)
		durOpt("response_header_timeout", bal.ResponseHeaderTimeout, def.ResponseHeaderTimeout)
		durOpt("idle_timeout", bal.IdleTimeout, def.IdleTimeout)
		intOpt("max_idle_conns", bal.MaxIdleConns, def.MaxIdleConns)
		if bal.AJPSecret != "" {
			opt("ajp_secret", q(bal.AJPSecret))
		}
		intOpt("ajp_packet_size", bal.AJPPacketSize, def.AJPPacketSize)
		intOpt("max_conns", bal.MaxConns, 0)
		if bal.MaxConns > 0 || slices.ContainsFunc(bal.Members, func(m Member) bool { return m.MaxConns > 0 }) {
			intOpt("max_queue", bal.MaxQueue, DefaultMaxQueue)
			durOpt("queue_timeout", bal.QueueTimeout, DefaultQueueTimeout)
		}
		durOpt("slow_start", bal.SlowStart, 0)
		b.WriteString("\t}\n")
	}
	if fs := s.FileServer; fs != nil {
		if len(s.Balancers) > 0 {
			b.WriteString("\n")
		}
		b.WriteString("\tfile_server")
		if fs.Browse {
			b.WriteString(" browse")
		}
		b.WriteString(" {\n\t\troot " + q(fs.Root) + "\n")
		if !slices.Equal(fs.Index, []string{"index.html", "index.htm"}) && len(fs.Index) > 0 {
			var idx []string
			for _, f := range fs.Index {
				idx = append(idx, q(f))
			}
			b.WriteString("\t\tindex " + strings.Join(idx, " ") + "\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.Bytes(), bad
}

// durString writes d in the shortest form ParseDuration reads back.
func durString(d time.Duration) string {
	s := d.String()
	for _, z := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, z) {
			s = strings.TrimSuffix(s, z[1:])
		}
	}
	return s
}

// quoteToken writes v as one Caddyfile token that reads back as v: a bare
// word when that is safe, else a backtick string (raw: no escapes, no
// placeholders), else a double-quoted one. It returns "" when v has both a
// backtick and "{$" (a placeholder a quoted string would expand).
func quoteToken(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n\"`{}\\") && !strings.HasPrefix(v, "#") && !strings.HasPrefix(v, "<<") {
		return v
	}
	if !strings.Contains(v, "`") {
		return "`" + v + "`"
	}
	if strings.Contains(v, "{$") {
		return ""
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

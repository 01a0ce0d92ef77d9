package config

import (
	"slices"
	"testing"
	"time"
)

// TestExample parses ../Caddyfile.example with an empty environment: every
// placeholder there has a default, so it must validate as shipped.
func TestExample(t *testing.T) {
	cfg, err := ParseOptions{LookupEnv: envOf(nil)}.Load("../Caddyfile.example")
	if err != nil {
		t.Fatalf("Load(Caddyfile.example): %v", err)
	}
	g := cfg.Global
	if g.Admin != "127.0.0.1:9180" || g.AdminToken != "change-me" {
		t.Errorf("admin = %q token %q; want 127.0.0.1:9180, change-me", g.Admin, g.AdminToken)
	}
	if !slices.Equal(g.AdminOrigins, []string{"tether-admin.internal"}) {
		t.Errorf("admin origins = %q; want [tether-admin.internal]", g.AdminOrigins)
	}
	if g.Storage.Kind != "file" || g.Storage.Dir != "/var/lib/tether" {
		t.Errorf("storage = %+v; want file /var/lib/tether", g.Storage)
	}
	if c := g.Cluster; c == nil || c.Name != "prod" || len(c.GossipKey) != 1 || len(c.Discover) != 4 || c.SessionTTL != 30*time.Minute {
		t.Errorf("cluster = %s; want prod with one key and four providers", dump(c))
	}
	if g.DrainDelay != 15*time.Second {
		t.Errorf("drain_delay = %v; want 15s", g.DrainDelay)
	}
	if len(cfg.Sites) != 11 {
		t.Fatalf("sites = %d; want 11 (10 and import_apache's)", len(cfg.Sites))
	}
	shop := cfg.Sites[0]
	if len(shop.Addresses) != 2 || shop.Addresses[1].Host != "www.shop.example.com" {
		t.Errorf("shop addresses = %+v", shop.Addresses)
	}
	var names []string
	for _, s := range cfg.Sites {
		for _, b := range s.Balancers {
			names = append(names, b.Name)
		}
	}
	wantNames := []string{"shop", "shop.example.com-2", "shop.example.com-3", "shop.example.com-4", "shop.example.com-5", "internal.example.com-1", "*.tenants.example.com-1", "default-1", "lb", "reports.example.com-1", "*.apps.example.com-1", "partners.example.com-1", "partners.example.com-2", "api.example.com-1", "api.example.com-2", "api.example.com-3", "lb"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("balancer names = %q; want %q", names, wantNames)
	}
	b := shop.Balancers[0]
	if len(b.Members) != 3 || b.Members[2].Name != "tomcat3" || b.Members[2].Weight != 2 || b.Members[2].Redirect != "tomcat1" {
		t.Errorf("shop members = %s", dump(b.Members))
	}
	if b.LBPolicy != "least_busy" || b.AJPSecret != "change-me-too" || b.DiscoverService != "app" || !slices.Equal(b.Excludes, []string{"/app/static/*"}) {
		t.Errorf("shop balancer = %s", dump(b))
	}
	// legacy.example.com imports examples/modjk (the Tomcat lab's files).
	if jk := cfg.Sites[5]; len(jk.Balancers) != 1 || len(jk.Balancers[0].Members) != 2 || jk.Balancers[0].AJPSecret == "" ||
		jk.FileServer == nil || jk.FileServer.Root != "/var/www/html" || len(cfg.Warnings) == 0 {
		t.Errorf("import_jk site = %s; warnings %v", dump(jk), cfg.Warnings)
	}
	if r := cfg.Sites[6].Balancers[0]; len(r.Members) != 2 || r.Members[1].Name != "rep2" || r.HealthURI != "/health" {
		t.Errorf("snippet balancer = %s", dump(r))
	}
	if tls := cfg.Sites[3].TLS; tls == nil || tls.OnDemandAsk != "http://127.0.0.1:9000/allowed" {
		t.Errorf("on-demand tls = %+v", tls)
	}
	if tls := cfg.Sites[7].TLS; tls == nil || tls.DNS == nil || tls.DNS.Name != "route53" || tls.PropagationTimeout != 5*time.Minute {
		t.Errorf("dns-01 tls = %s", dump(tls))
	}
	if tls := cfg.Sites[8].TLS; tls == nil || tls.ProtocolMin != "tls1.3" || tls.ClientAuth == nil || tls.ClientAuth.Mode != "require_and_verify" ||
		len(tls.ClientAuth.TrustedCAs) != 1 || cfg.Sites[8].Balancers[1].ClientCertHeaders != "apache" {
		t.Errorf("mTLS site = %s", dump(cfg.Sites[8]))
	}
	// import_apache's virtual host mounts the lb worker legacy.example.com
	// imports too: one balancer (one Source), its own mounts.
	ap := cfg.Sites[10]
	if ap.Addresses[0].Raw != "http://apache.example.com:80" || len(ap.Balancers) != 1 || ap.Balancers[0].Source != cfg.Sites[5].Balancers[0].Source ||
		!slices.Equal(ap.Balancers[0].Excludes, []string{"/lab/static/*"}) {
		t.Errorf("import_apache site = %s", dump(ap))
	}
}

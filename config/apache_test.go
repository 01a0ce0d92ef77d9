package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// memFS is a file system of path → contents for ParseOptions.
type memFS map[string]string

func (m memFS) opts() ParseOptions {
	return ParseOptions{
		LookupEnv: func(name string) (string, bool) {
			if name == "APACHE_LOG_DIR" {
				return "/var/log/apache2", true
			}
			return "", false
		},
		ReadFile: func(name string) ([]byte, error) {
			if s, ok := m[filepath.Clean(name)]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		},
		Glob: func(pattern string) ([]string, error) {
			var out []string
			for k := range m {
				if ok, _ := filepath.Match(pattern, k); ok {
					out = append(out, k)
				}
			}
			slices.Sort(out)
			return out, nil
		},
	}
}

// labFiles renders the lab's Apache configuration
// (testdata/tomcat-lab/conf/apache) with the given placeholder values into
// root.
func labFiles(t *testing.T, root string, vals map[string]string) memFS {
	t.Helper()
	m := memFS{}
	for _, f := range []string{"httpd.conf.tmpl", "workers.properties.tmpl", "uriworkermap.properties"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "tomcat-lab", "conf", "apache", f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for k, v := range vals {
			s = strings.ReplaceAll(s, "@"+k+"@", v)
		}
		m[filepath.Join(root, "run", "apache", strings.TrimSuffix(f, ".tmpl"))] = s
	}
	return m
}

var labValues = map[string]string{
	"RUN": "/srv/lab/run", "APACHE_USER": "www-data", "APACHE_GROUP": "www-data", "APACHE_MODULES": "/usr/lib/apache2/modules",
	"JK_LOG_LEVEL": "info", "JK_MAINTAIN": "10", "APACHE_JK_PORT": "18080", "APACHE_PB_PORT": "18090",
	"TC1_AJP_PORT": "18009", "TC2_AJP_PORT": "18010", "TC1_ROUTE": "tomcat1", "TC2_ROUTE": "tomcat2",
	"AJP_SECRET": "lab-ajp-secret-change-me", "JK_RECOVER_TIME": "20",
}

// TestApacheLabGolden imports the lab's httpd.conf (both virtual hosts:
// mod_jk from uriworkermap.properties, mod_proxy_balancer with
// BalancerMember routes) and compares the Caddyfile and the warnings with
// golden files (-update rewrites them); the Caddyfile must parse to a
// config whose mod_jk site routes /lab to the lb worker.
func TestApacheLabGolden(t *testing.T) {
	m := labFiles(t, "/srv/lab", labValues)
	o := m.opts()
	out, warns, err := o.ImportApacheCaddyfile(ImportApache{File: "/srv/lab/run/apache/httpd.conf"})
	if err != nil {
		t.Fatalf("ImportApacheCaddyfile: %v", err)
	}
	golden(t, "testdata/apache/lab.golden.Caddyfile", string(out))
	golden(t, "testdata/apache/lab.golden.warnings", warningsText(warns)+"\n")

	cfg, err := o.Parse("/srv/Caddyfile", []byte("{\n\timport_apache /srv/lab/run/apache/httpd.conf\n}\n"))
	if err != nil {
		t.Fatalf("Parse import_apache: %v", err)
	}
	if len(cfg.Sites) != 2 {
		t.Fatalf("sites = %d; want the two virtual hosts", len(cfg.Sites))
	}
	jk, pb := cfg.Sites[0], cfg.Sites[1]
	if jk.Addresses[0].Raw != "http://127.0.0.1:18080" || len(jk.Balancers) != 1 || jk.Balancers[0].Name != "lb" ||
		!slices.Equal(jk.Balancers[0].Paths, []string{"/lab/*", "/lab"}) || jk.Balancers[0].AJPSecret != "lab-ajp-secret-change-me" {
		t.Errorf("mod_jk site = %s; want lb on /lab/* and /lab", dump(jk))
	}
	if pb.Addresses[0].Raw != "http://127.0.0.1:18090" || len(pb.Balancers) != 1 || pb.Balancers[0].Name != "tccluster" ||
		pb.Balancers[0].Members[0].Name != "tomcat1" || pb.Balancers[0].Members[1].URL != "ajp://127.0.0.1:18010" ||
		!slices.Equal(pb.Balancers[0].Paths, []string{"/lab", "/lab/*"}) || pb.Balancers[0].RecoverTime.Seconds() != 20 {
		t.Errorf("mod_proxy_balancer site = %s; want tccluster with tomcat1 and tomcat2 on /lab", dump(pb))
	}
	if len(cfg.Warnings) != len(warns) {
		t.Errorf("import_apache warnings = %d; want %d, as import-apache prints", len(cfg.Warnings), len(warns))
	}
}

// TestApacheReader covers httpd's reading of its files: continuation
// lines, quotes, Define and ${VAR}, Include wildcards relative to
// ServerRoot, and the conditional sections.
func TestApacheReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   memFS // /etc/httpd/httpd.conf is read
		want    []string
		warn    []string
		wantErr string
	}{
		{name: "continuation, quotes and comments", files: memFS{"/etc/httpd/httpd.conf": "# a comment\nHeader set \\\n   X-A \"one two\"\n  Header set X-B 'it''s'\nHeader set X-C \"a \\\"q\\\" b\"\n"},
			want: []string{"Header [set X-A one two]@2:1", "Header [set X-B it s]@4:3", "Header [set X-C a \"q\" b]@5:1"}},
		{name: "define and variables", files: memFS{"/etc/httpd/httpd.conf": "Define port 8080\nListen ${port}\nListen ${APACHE_LOG_DIR}\nListen ${nope}\n"},
			want: []string{"Listen [8080]@2:1", "Listen [/var/log/apache2]@3:1", "Listen [${nope}]@4:1"},
			warn: []string{"httpd.conf:4:1: warning: ${nope} is neither Defined above nor an environment variable"}},
		{name: "include in order, relative to ServerRoot", files: memFS{
			"/etc/httpd/httpd.conf":     "ServerRoot /etc/httpd\nInclude conf.d/*.conf\nIncludeOptional missing/*.conf\nInclude nope.conf\n",
			"/etc/httpd/conf.d/b.conf":  "Listen 2\n",
			"/etc/httpd/conf.d/a.conf":  "Listen 1\n",
			"/etc/httpd/conf.d/a.conf~": "Listen 9\n",
		}, want: []string{"ServerRoot [/etc/httpd]@1:1", "Listen [1]@1:1", "Listen [2]@1:1"},
			warn: []string{"httpd.conf:4:1: warning: Include nope.conf: cannot read /etc/httpd/nope.conf"}},
		{name: "include cycle", files: memFS{"/etc/httpd/httpd.conf": "Include /etc/httpd/x.conf\n", "/etc/httpd/x.conf": "Include /etc/httpd/httpd.conf\n"},
			wantErr: "/etc/httpd/x.conf:1:1: Include /etc/httpd/httpd.conf: /etc/httpd/httpd.conf includes itself"},
		{name: "IfModule after LoadModule", files: memFS{"/etc/httpd/httpd.conf": "LoadModule jk_module m/mod_jk.so\n<IfModule mod_jk.c>\nJkMount /a lb\n</IfModule>\n<IfModule !jk_module>\nJkMount /b lb\n</IfModule>\n<IfModule ssl_module>\nSSLEngine on\nDefine X\n</IfModule>\n<IfDefine X>\nListen 1\n</IfDefine>\n<IfModule version_module>\nListen 2\n</IfModule>\n"},
			want: []string{"LoadModule [jk_module m/mod_jk.so]@1:1", "JkMount [/a lb]@3:1", "Listen [2]@16:1"}},
		{name: "IfModule in a fragment", files: memFS{"/etc/httpd/httpd.conf": "<IfModule mod_jk.c>\nJkMount /a lb\n</IfModule>\n<IfModule !mod_jk.c>\nJkMount /b lb\n</IfModule>\n"},
			want: []string{"JkMount [/a lb]@2:1"}, warn: []string{"httpd.conf:1:1: warning: no LoadModule line before this <IfModule>"}},
		{name: "IfVersion", files: memFS{"/etc/httpd/httpd.conf": "<IfVersion >= 2.4>\nListen 1\n</IfVersion>\n<IfVersion < 2.3>\nListen 2\n</IfVersion>\n<IfVersion ~ ^2\\.4\\.>\nListen 3\n</IfVersion>\n"},
			want: []string{"Listen [1]@2:1", "Listen [3]@8:1"}},
		{name: "sections kept", files: memFS{"/etc/httpd/httpd.conf": "<VirtualHost *:80>\n  ServerName a\n  <Location /x>\n    JkMount lb\n  </Location>\n</VirtualHost>\n"},
			want: []string{"<VirtualHost> [*:80]@1:1", "ServerName [a]@2:3", "<Location> [/x]@3:3", "JkMount [lb]@4:5"}},
		{name: "unclosed section", files: memFS{"/etc/httpd/httpd.conf": "Listen 1\n<VirtualHost *:80>\nServerName a\n"}, wantErr: "/etc/httpd/httpd.conf:2:1: <VirtualHost> is not closed"},
		{name: "mismatched close", files: memFS{"/etc/httpd/httpd.conf": "<VirtualHost *:80>\n</Location>\n"}, wantErr: "/etc/httpd/httpd.conf:2:1: expected </VirtualHost> but saw </Location>"},
		{name: "close without open", files: memFS{"/etc/httpd/httpd.conf": "</VirtualHost>\n"}, wantErr: "/etc/httpd/httpd.conf:1:1: </VirtualHost> without a matching <VirtualHost>"},
		{name: "unclosed false section", files: memFS{"/etc/httpd/httpd.conf": "<IfDefine NOPE>\nListen 1\n"}, wantErr: "/etc/httpd/httpd.conf:1:1: <IfDefine> is not closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, r, err := readApache(tc.files.opts(), "/etc/httpd/httpd.conf", "", nil)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("readApache error = %v; want prefix %s", err, tc.wantErr)
				}
				if _, ok := errors.AsType[*Error](err); !ok {
					t.Errorf("error %T is not an *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("readApache: %v", err)
			}
			var got []string
			var walk func(ds []*apDirective)
			walk = func(ds []*apDirective) {
				for _, d := range ds {
					name := d.name
					if d.section {
						name = "<" + name + ">"
					}
					got = append(got, name+" ["+strings.Join(d.argTexts(), " ")+"]@"+strings.TrimPrefix(strings.TrimPrefix(d.pos.String(), d.pos.File), ":"))
					walk(d.body)
				}
			}
			walk(ds)
			if !slices.Equal(got, tc.want) {
				t.Errorf("directives = %q; want %q", got, tc.want)
			}
			w := warningsText(r.warns)
			for _, want := range tc.warn {
				if !strings.Contains(w, want) {
					t.Errorf("warnings:\n%s\nwant %q", w, want)
				}
			}
		})
	}
}

// TestApacheRichGolden imports testdata/apache/rich (hand-written, with
// most of what import_apache reads) and compares the Caddyfile and the
// warnings with golden files; the Caddyfile must parse, and the mod_jk
// mounts of each site follow mod_jk's JkMountCopy rules.
func TestApacheRichGolden(t *testing.T) {
	files := memFS{}
	for _, f := range []string{"httpd.conf", "workers.properties", "uriworkermap.properties"} {
		b, err := os.ReadFile("testdata/apache/rich/" + f)
		if err != nil {
			t.Fatal(err)
		}
		dst := "/etc/httpd/conf/" + f
		files[dst] = string(b)
	}
	o := files.opts()
	out, warns, err := o.ImportApacheCaddyfile(ImportApache{File: "/etc/httpd/conf/httpd.conf"})
	if err != nil {
		t.Fatalf("ImportApacheCaddyfile: %v", err)
	}
	golden(t, "testdata/apache/rich.golden.Caddyfile", string(out))
	golden(t, "testdata/apache/rich.golden.warnings", warningsText(warns)+"\n")

	cfg, err := o.Parse("/etc/tether/Caddyfile", []byte("{\n\timport_apache /etc/httpd/conf/httpd.conf\n}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	byAddr := map[string]*Site{}
	for i := range cfg.Sites {
		for _, a := range cfg.Sites[i].Addresses {
			byAddr[a.Raw] = &cfg.Sites[i]
		}
	}
	jkPaths := func(raw string) []string {
		s := byAddr[raw]
		if s == nil {
			t.Fatalf("no site %s; sites %s", raw, dump(cfg.Sites))
		}
		var out []string
		for _, b := range s.Balancers {
			if b.Source != "" {
				out = append(out, b.Name+":"+strings.Join(b.Paths, ",")+"!"+strings.Join(b.Excludes, ","))
			}
		}
		return out
	}
	for _, tc := range []struct{ site, want string }{
		// Its own JkMounts and, with JkMountCopy On, the main server's.
		// (/app/*.jsp ranks first and is mounted as /app/*, with a warning.)
		{"http://shop.example.com:80", "lb:/app/*,/shared/*,/admin!/app/static/*"},
		// Its own only (no JkMountCopy).
		{"http://api.example.com:80", "lb:/api/*!"},
		// Its JkMountFile, no JkMount.
		{"https://shop.example.com:443", "lb:/cart/img/*,/cart/*!/cart/img/*"},
		{"http://127.0.0.1:8081", "lb:/*!"},
	} {
		if got := strings.Join(jkPaths(tc.site), " "); got != tc.want {
			t.Errorf("site %s mod_jk mounts = %q; want %q", tc.site, got, tc.want)
		}
	}
	// One worker lb, one balancer, in every site that mounts it.
	if a, b := byAddr["http://api.example.com:80"].Balancers, byAddr["http://127.0.0.1:8081"].Balancers; a[len(a)-1].Source != b[0].Source || b[0].Source == "" {
		t.Errorf("the sites' lb balancers have different Sources")
	}
	if s := byAddr["http://:80"]; s != byAddr["http://shop.example.com:80"] {
		t.Errorf("the first *:80 virtual host does not answer the other hosts")
	}
	if s := byAddr["http://unused.example.com:8443"]; s != nil {
		t.Errorf("a virtual host on a port httpd does not listen on was imported")
	}
}

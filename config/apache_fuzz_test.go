package config

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// FuzzApacheConfig feeds arbitrary httpd configurations (and a
// workers.properties and an included file beside them) to import_apache.
// It never panics; every error is an *Error with a position or a plain
// error about reading a file; every warning names a file and line; and
// when the import succeeds, the Caddyfile tether import-apache prints
// parses.
func FuzzApacheConfig(f *testing.F) {
	for _, p := range []string{"testdata/apache/rich/httpd.conf", "testdata/apache/ssl/httpd.conf", "../testdata/tomcat-lab/conf/apache/httpd.conf.tmpl",
		"testdata/apache/corpus/ideaesb__configs/vhosts.conf", "testdata/apache/corpus/misterpremium__apache2/virtualhost/instancia.apachepi/apps.apachepi/balanceador.conf"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b), "worker.list=lb\nworker.a.host=h\nworker.lb.type=lb\nworker.lb.balance_workers=a\n", "JkMount /inc/* lb\n")
		}
	}
	f.Add("Listen 80\nJkWorkersFile w.properties\n<VirtualHost *:80>\nServerName a.b\nJkMount /x/* lb\nInclude inc.conf\n</VirtualHost>\n", "worker.list=lb\n", "JkMountCopy On\n")
	f.Add("<IfModule x>\n<If \"%{X}\">\n</If>\n", "", "")
	f.Add("Define A ${A}${A}\nListen ${A}\n", "", "Include /srv/httpd.conf\n")
	f.Fuzz(func(t *testing.T, conf, workers, inc string) {
		files := memFS{"/srv/httpd.conf": conf, "/srv/w.properties": workers, "/srv/inc.conf": inc}
		o := files.opts()
		out, warns, err := o.ImportApacheCaddyfile(ImportApache{File: "/srv/httpd.conf"})
		if err != nil {
			if ce, ok := errors.AsType[*Error](err); ok {
				if ce.Pos.Line == 0 {
					t.Fatalf("error without a position: %v", err)
				}
				return
			}
			if !strings.Contains(err.Error(), "read ") {
				t.Fatalf("error %v is a %T, not an *Error", err, err)
			}
			return
		}
		for _, w := range warns {
			if w.Pos.File == "" || w.Pos.Line == 0 {
				t.Fatalf("warning without a position: %v", w)
			}
		}
		if _, err := o.Parse("printed", out); err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Fatalf("printed Caddyfile: error %v is a %T\n%s", err, err, out)
			}
		}
	})
}

// FuzzApacheSSL: mod_ssl's SSLProtocol and SSLCipherSuite values never
// panic or hang, an SSLProtocol that is not an error is a set of known
// versions, and a cipher string selects only suites Tether offers.
func FuzzApacheSSL(f *testing.F) {
	for _, s := range []string{"all -SSLv3", "-all +TLSv1.3", "TLSv1 +TLSv1.1", "HIGH:!aNULL:!MD5", "EECDH+AESGCM:EDH+AESGCM",
		"ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256 @STRENGTH", "-AESGCM:+AES:!SHA1,kRSA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		names, _, _ := apCipherSuite(spec)
		for _, n := range names {
			if !slices.Contains(cipherNames(), n) {
				t.Fatalf("%q selects %s, which Tether does not offer", spec, n)
			}
		}
		conf := "SSLProtocol " + strings.ReplaceAll(spec, "\n", " ") + "\nSSLCipherSuite " + quoteToken(spec) + "\n"
		o := memFS{"/srv/httpd.conf": conf}.opts()
		if _, err := o.ApacheCaddyfile(ImportApache{File: "/srv/httpd.conf"}); err != nil {
			if ce, ok := errors.AsType[*Error](err); !ok || ce.Pos.Line == 0 {
				t.Fatalf("error %v is not an *Error at a line", err)
			}
		}
	})
}

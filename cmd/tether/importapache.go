package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/tether-proxy/tether/config"
)

const importApacheUsage = `usage: tether import-apache HTTPD_CONF [--server-root DIR] [-D NAME]...

Reads Apache httpd's own configuration as httpd does (Include, ServerRoot,
<IfModule>, Define, Listen, VirtualHost) and prints the Caddyfile of its
sites: mod_jk (JkWorkersFile, JkMount, JkMountFile, JkMountCopy), mod_proxy
and mod_proxy_balancer, mod_ssl certificates, Header and RequestHeader,
Redirect, simple RewriteRules, DEFLATE, LimitRequestBody, mod_remoteip and
DocumentRoot. What is not imported, or not exactly, goes to stderr, each with
its file and line. "import_apache HTTPD_CONF" in the global options does the
same at every start.
`

// defines is a repeatable -D flag.
type defines []string

func (d *defines) String() string     { return fmt.Sprint(*d) }
func (d *defines) Set(v string) error { *d = append(*d, v); return nil }

// cmdImportApache runs "tether import-apache": the Caddyfile to stdout,
// the warnings to stderr. Flags may come before or after the file name.
func cmdImportApache(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import-apache", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, importApacheUsage)
		fs.PrintDefaults()
	}
	root := fs.String("server-root", "", "httpd's ServerRoot (-d); default: the directory of HTTPD_CONF, unless it sets ServerRoot")
	var defs defines
	fs.Var(&defs, "D", "a name defined as with httpd -D (repeatable)")
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		fs.Usage()
		return usageError{fmt.Errorf("want one httpd configuration file, got %d", len(files))}
	}
	out, warns, err := config.ParseOptions{}.ImportApacheCaddyfile(config.ImportApache{File: files[0], ServerRoot: *root, Defines: defs})
	for _, w := range warns {
		fmt.Fprintln(stderr, w)
	}
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

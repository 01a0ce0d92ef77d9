package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestDemoFirstRun is a newcomer's first `tether demo`: it says what it is
// starting at once, then prints its instructions with nothing in between
// (its log keeps to warnings and errors unless --verbose), keeps its files in a temporary
// directory and removes it on Ctrl-C; with --data the files stay there.
func TestDemoFirstRun(t *testing.T) {
	needBinaries(t)
	for _, tc := range []struct {
		name    string
		verbose bool
		keep    bool
	}{
		{name: "quiet, temporary files"},
		{name: "verbose, kept files", verbose: true, keep: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"demo", "--listen", "127.0.0.1:0", "--https", "localhost:0", "--admin", "127.0.0.1:0", "--control", "127.0.0.1:0", "--no-browser"}
			kept := filepath.Join(t.TempDir(), "demo-data")
			if tc.verbose {
				args = append(args, "--verbose")
			}
			if tc.keep {
				args = append(args, "--data", kept)
			}
			var r demoReadyInfo
			demo := start(t, tetherBin, args, "--ready-file", &r)
			testpeers.WaitUntil(t, 10*time.Second, "the demo's instructions", func() bool {
				return strings.Contains(demo.out.String(), "Stop with Ctrl-C")
			})
			out := demo.out.String()
			m := regexp.MustCompile(`\AStarting the Tether demo: .*, files in (\S+) \.\.\.\n\n  open http://` + regexp.QuoteMeta(r.Admin) + `/ `).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("demo's stdout does not start with the starting line, then the status page to open:\n%s", out)
			}
			dir := m[1]
			if tc.keep && dir != kept {
				t.Errorf("files in %s; want --data's %s", dir, kept)
			}
			if !tc.keep && (!strings.HasPrefix(dir, os.TempDir()) || !strings.Contains(filepath.Base(dir), "tether-demo-")) {
				t.Errorf("files in %s; want a tether-demo- directory in %s", dir, os.TempDir())
			}
			// The CA root the instructions give is in that directory.
			root := regexp.MustCompile(`--cacert (\S+) `).FindStringSubmatch(out)
			if root == nil || !strings.HasPrefix(root[1], dir+string(filepath.Separator)) {
				t.Errorf("instructions' CA root %v; want a file in %s", root, dir)
			} else if _, err := os.Stat(root[1]); err != nil {
				t.Errorf("CA root: %v", err)
			}
			// So is the cookie jar of the curl examples, which work.
			jar := filepath.Join(dir, "cookies")
			if !strings.Contains(out, "curl -s -c "+jar+" -b "+jar+" http://"+r.Proxies[0].site()+"/") {
				t.Errorf("instructions do not keep curl's cookies in %s:\n%s", jar, out)
			}
			if code, route := mustGet(t, "http://"+r.Proxies[0].site()+"/", ""); code != 200 || route == "" {
				t.Errorf("GET proxy1's site = %d from %q; want 200 from an app node", code, route)
			}

			logs := demo.logs.String()
			if tc.verbose != strings.Contains(logs, `"listening"`) {
				t.Errorf("with --verbose=%v the log has listening events: %v; want %v\n%s", tc.verbose, !tc.verbose, tc.verbose, logs)
			}
			// Quiet is warnings and errors only: a loaded machine may well
			// give memberlist something to warn about, but no routine event
			// (info, debug) may show.
			routine := regexp.MustCompile(`"level":"(info|debug|trace)"`)
			if !tc.verbose && routine.MatchString(logs) {
				t.Errorf("quiet demo logged routine events while starting:\n%s", logs)
			}

			if err := demo.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			select {
			case <-demo.done:
			case <-time.After(30 * time.Second):
				t.Fatal("demo still running 30s after Ctrl-C")
			}
			if code := demo.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("demo exited with %d after Ctrl-C; want 0", code)
			}
			_, err := os.Stat(dir)
			if tc.keep && err != nil {
				t.Errorf("--data %s after the demo: %v; want it kept", dir, err)
			}
			if !tc.keep && !os.IsNotExist(err) {
				t.Errorf("temporary %s after the demo: %v; want it removed", dir, err)
			}
			if logs := demo.logs.String(); !tc.verbose && routine.MatchString(logs) {
				t.Errorf("quiet demo logged routine events while stopping:\n%s", logs)
			}
		})
	}
}

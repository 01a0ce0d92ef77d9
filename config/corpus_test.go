package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusEnv stands in for the environment the corpus files expect: a
// domain for {$DOMAIN}-like names, an address for upstreams, a port.
func corpusEnv(name string) (string, bool) {
	switch {
	case strings.Contains(name, "EMAIL"):
		return "ops@example.com", true
	case strings.Contains(name, "PORT"):
		return "8443", true
	case strings.Contains(name, "UPSTREAM"):
		return "127.0.0.1:9000", true
	case strings.Contains(name, "DOMAIN"), strings.Contains(name, "HOST"), strings.Contains(name, "SITE"), strings.Contains(name, "ADDRESS"):
		return "app.example.com", true
	}
	return "x", true
}

// TestCaddyfileCorpus validates real Caddyfiles from public repositories
// (testdata/caddyfiles, with repository, path and commit in SOURCES.tsv)
// and compares the outcome of each, valid or the first error, with
// corpus.golden (-update rewrites it). A directive that starts working
// changes the golden file; one that stops working fails the test.
func TestCaddyfileCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfiles/*.Caddyfile")
	if err != nil || len(files) < 20 {
		t.Fatalf("corpus: %d files, %v; want at least 20", len(files), err)
	}
	// Every file names where it came from: repository, path, commit.
	sources, err := os.ReadFile("testdata/caddyfiles/SOURCES.tsv")
	if err != nil {
		t.Fatal(err)
	}
	from := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sources)), "\n")[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 4 || len(f[3]) != 40 || !strings.Contains(f[1], "/") || f[2] == "" {
			t.Errorf("SOURCES.tsv line %q: want file, owner/repo, path and a 40-digit commit", line)
			continue
		}
		from[f[0]] = f[1:]
	}
	for _, f := range files {
		if from[filepath.Base(f)] == nil {
			t.Errorf("%s is not in SOURCES.tsv", filepath.Base(f))
		}
	}
	var out strings.Builder
	valid := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseOptions{LookupEnv: corpusEnv}.Parse(filepath.Base(f), src)
		res := "valid"
		if err != nil {
			res = err.Error()
		} else {
			valid++
		}
		out.WriteString(filepath.Base(f) + ": " + res + "\n")
	}
	t.Logf("%d of %d real Caddyfiles validate", valid, len(files))
	if valid < 20 {
		t.Errorf("%d real Caddyfiles validate; want at least 20", valid)
	}
	golden(t, "testdata/caddyfiles/corpus.golden", out.String())
}

package admin

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMonitoringExamplesUseExportedMetrics: every tether_* metric that the
// alerting rules and the Grafana dashboard in examples/monitoring query is
// one /metrics exports (a histogram's _bucket, _sum and _count included),
// so a renamed metric cannot leave an alert that never fires.
func TestMonitoringExamplesUseExportedMetrics(t *testing.T) {
	exported := map[string]bool{}
	descs := make(chan *prometheus.Desc)
	go func() { collector{}.Describe(descs); close(descs) }()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no fqName in %s", d)
		}
		exported[m[1]] = true
		if m[1] == "tether_member_response_seconds" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[m[1]+s] = true
			}
		}
	}
	files, _ := filepath.Glob("../../examples/monitoring/*")
	used := regexp.MustCompile(`\btether_[a-z0-9_]+`)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".test.yml") || strings.HasSuffix(f, ".md") {
			continue // the rules' unit tests feed series, they query nothing
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range used.FindAllString(string(data), -1) {
			n++
			if !exported[name] {
				t.Errorf("%s queries %s, which /metrics does not export", filepath.Base(f), name)
			}
		}
	}
	if n < 20 {
		t.Errorf("found %d uses of tether_* metrics in %v; want the rules and the dashboard", n, files)
	}
}

package main

import (
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

const raw = `round,scenario,conns,target,rps,p99_ms,proxy_cpu_pct,rps_per_proxy_core,errors,misrouted
1,http,32,direct,30000,10,,,0,
1,http,32,haproxy,20000,4,80,25000,0,0
1,http,32,tether,10000,8,100,10000,1,0
2,http,32,direct,30000,10,,,0,
2,http,32,haproxy,24000,6,80,30000,0,0
2,http,32,tether,12000,8,100,12000,2,3
`

func TestSummarize(t *testing.T) {
	rows, err := readRows(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	cells := summarize(rows)
	if len(cells) != 3 {
		t.Fatalf("got %d cells, want 3", len(cells))
	}
	d, h, x := cells[0], cells[1], cells[2]
	if d.target != "direct" || h.target != "haproxy" || x.target != "tether" {
		t.Fatalf("order: %s %s %s", d.target, h.target, x.target)
	}
	if h.rps != 22000 || h.spread != 100*2000.0/22000 {
		t.Errorf("haproxy rps %v spread %v", h.rps, h.spread)
	}
	if x.vsHAProxy != 0.5 || x.p99VsHAProxy != 8.0/5 || x.perCoreVsHAProxy != 11000.0/27500 {
		t.Errorf("tether ratios %v %v %v", x.vsHAProxy, x.p99VsHAProxy, x.perCoreVsHAProxy)
	}
	if x.ofCeiling != 11000.0/30000 {
		t.Errorf("tether of ceiling %v", x.ofCeiling)
	}
	if x.errors != 3 || x.misrouted != 3 || !x.hasMisrouted || d.hasMisrouted {
		t.Errorf("errors %d misrouted %d (%v), direct has misrouted %v", x.errors, x.misrouted, x.hasMisrouted, d.hasMisrouted)
	}
	if !math.IsNaN(d.cpu) {
		t.Errorf("direct cpu %v, want NaN", d.cpu)
	}
}

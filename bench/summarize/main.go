// Command summarize turns a bench run's raw.csv (one row per cell and round)
// into summary.csv and summary.md: per scenario, concurrency and target, the
// median over rounds of each metric, the spread of req/s, errors and
// misrouted requests summed over rounds, and ratios to HAProxy (and to the
// no-proxy "direct" ceiling) from the same run. It prints the Markdown table.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func main() {
	dir := flag.String("dir", ".", "run directory with raw.csv; summary.csv and summary.md are written there")
	flag.Parse()
	log.SetFlags(0)

	f, err := os.Open(filepath.Join(*dir, "raw.csv"))
	if err != nil {
		log.Fatal(err)
	}
	rows, err := readRows(f)
	f.Close()
	if err != nil {
		log.Fatalf("raw.csv: %v", err)
	}
	cells := summarize(rows)
	if err := os.WriteFile(filepath.Join(*dir, "summary.csv"), []byte(csvText(cells)), 0o644); err != nil {
		log.Fatal(err)
	}
	md := markdown(cells)
	if err := os.WriteFile(filepath.Join(*dir, "summary.md"), []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(md)
}

// row is one line of raw.csv: column name to value.
type row map[string]string

func (r row) num(col string) (float64, bool) {
	v, err := strconv.ParseFloat(r[col], 64)
	return v, err == nil
}

func readRows(r io.Reader) ([]row, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	var rows []row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		m := make(row, len(header))
		for i, h := range header {
			m[h] = rec[i]
		}
		rows = append(rows, m)
	}
}

// key identifies a cell: what is compared across targets.
type key struct {
	scenario string
	conns    int
}

// cell is one target's result in one scenario and concurrency.
type cell struct {
	key
	target string
	rounds int
	// medians over rounds; NaN when the metric does not apply (direct has no
	// proxy CPU).
	rps, p50, p99, cpu, perCore, rss, pss, noise float64
	spread                                       float64 // ± half the min–max range of req/s, in % of the median
	errors, misrouted                            int
	hasMisrouted                                 bool
	// same-run ratios: to haproxy (req/s, p99, req/s per proxy core) and to
	// direct (req/s); NaN when the reference is absent.
	vsHAProxy, p99VsHAProxy, perCoreVsHAProxy, ofCeiling float64
}

func summarize(rows []row) []*cell {
	var order []key
	targets := map[key][]string{}
	byCell := map[key]map[string][]row{}
	for _, r := range rows {
		conns, _ := strconv.Atoi(r["conns"])
		k := key{r["scenario"], conns}
		if byCell[k] == nil {
			order = append(order, k)
			byCell[k] = map[string][]row{}
		}
		t := r["target"]
		if byCell[k][t] == nil {
			targets[k] = append(targets[k], t)
		}
		byCell[k][t] = append(byCell[k][t], r)
	}
	// order is the run's own: scenarios, then concurrencies, as run.sh loops.
	var out []*cell
	for _, k := range order {
		got := map[string]*cell{}
		for _, t := range targets[k] {
			c := summarizeCell(k, t, byCell[k][t])
			got[t] = c
			out = append(out, c)
		}
		for _, c := range got {
			c.vsHAProxy, c.p99VsHAProxy, c.perCoreVsHAProxy, c.ofCeiling = math.NaN(), math.NaN(), math.NaN(), math.NaN()
			if h := got["haproxy"]; h != nil {
				c.vsHAProxy = c.rps / h.rps
				c.p99VsHAProxy = c.p99 / h.p99
				c.perCoreVsHAProxy = c.perCore / h.perCore
			}
			if d := got["direct"]; d != nil {
				c.ofCeiling = c.rps / d.rps
			}
		}
	}
	return out
}

func summarizeCell(k key, target string, rows []row) *cell {
	c := &cell{key: k, target: target, rounds: len(rows)}
	col := func(name string) []float64 {
		var v []float64
		for _, r := range rows {
			if x, ok := r.num(name); ok {
				v = append(v, x)
			}
		}
		return v
	}
	rps := col("rps")
	c.rps = median(rps)
	if len(rps) > 0 && c.rps > 0 {
		c.spread = 100 * (slices.Max(rps) - slices.Min(rps)) / 2 / c.rps
	}
	c.p50 = median(col("p50_ms"))
	c.p99 = median(col("p99_ms"))
	c.cpu = median(col("proxy_cpu_pct"))
	c.perCore = median(col("rps_per_proxy_core"))
	c.rss = median(col("rss_mib"))
	c.pss = median(col("pss_mib"))
	c.noise = median(col("noise_pct"))
	for _, r := range rows {
		if e, ok := r.num("errors"); ok {
			c.errors += int(e)
		}
		if m, ok := r.num("misrouted"); ok {
			c.misrouted += int(m)
			c.hasMisrouted = true
		}
	}
	return c
}

// median of v; NaN if v is empty.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// fmtNum formats x with prec decimals, or "" for NaN.
func fmtNum(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return ""
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

func (c *cell) misroutedText() string {
	if !c.hasMisrouted {
		return "-"
	}
	return strconv.Itoa(c.misrouted)
}

var columns = []string{
	"scenario", "conns", "target", "rounds", "rps", "spread_pct", "vs_haproxy", "of_ceiling_pct",
	"p50_ms", "p99_ms", "p99_vs_haproxy", "proxy_cpu_pct", "rps_per_proxy_core", "per_core_vs_haproxy",
	"rss_mib", "pss_mib", "errors", "misrouted", "noise_pct",
}

func (c *cell) values() []string {
	return []string{
		c.scenario, strconv.Itoa(c.conns), c.target, strconv.Itoa(c.rounds),
		fmtNum(c.rps, 0), fmtNum(c.spread, 0), fmtNum(c.vsHAProxy, 2), fmtNum(100*c.ofCeiling, 0),
		fmtNum(c.p50, 2), fmtNum(c.p99, 2), fmtNum(c.p99VsHAProxy, 2),
		fmtNum(c.cpu, 0), fmtNum(c.perCore, 0), fmtNum(c.perCoreVsHAProxy, 2),
		fmtNum(c.rss, 0), fmtNum(c.pss, 0), strconv.Itoa(c.errors), c.misroutedText(), fmtNum(c.noise, 0),
	}
}

func csvText(cells []*cell) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write(columns)
	for _, c := range cells {
		w.Write(c.values())
	}
	w.Flush()
	return b.String()
}

func markdown(cells []*cell) string {
	var b strings.Builder
	b.WriteString("| scenario | conns | target | req/s | spread | vs haproxy | % of ceiling | p50 ms | p99 ms | p99 vs haproxy | proxy CPU % | req/s per proxy core | per core vs haproxy | RSS MiB | PSS MiB | errors | misrouted | noise % |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		spread := ""
		if s := fmtNum(c.spread, 0); s != "" {
			spread = "±" + s + "%"
		}
		ceiling := ""
		if s := fmtNum(100*c.ofCeiling, 0); s != "" {
			ceiling = s + "%"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n",
			c.scenario, c.conns, c.target, fmtNum(c.rps, 0), spread, fmtNum(c.vsHAProxy, 2), ceiling,
			fmtNum(c.p50, 2), fmtNum(c.p99, 2), fmtNum(c.p99VsHAProxy, 2),
			fmtNum(c.cpu, 0), fmtNum(c.perCore, 0), fmtNum(c.perCoreVsHAProxy, 2),
			fmtNum(c.rss, 0), fmtNum(c.pss, 0), c.errors, c.misroutedText(), fmtNum(c.noise, 0))
	}
	return b.String()
}

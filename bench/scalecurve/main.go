// Command scalecurve turns `go test -bench Scale -count N` output into the
// scaling curves of bench/README.md: one markdown table per benchmark, a
// row per case and size (the sub-benchmark name's NAME=NUMBER part) with
// the median over the runs of each reported metric (ns/op, allocs/op, or
// the benchmark's own), and the ratio of the first metric to that of the
// case's smallest size. All the columns of a table are those of its first
// case.
//
//	go test -run XXX -bench Scale -benchtime 200ms -count 3 ./routing/ | go run ./bench/scalecurve
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// sizePart is the path element that carries the size: members=200.
var sizePart = regexp.MustCompile(`^([a-z]+)=([0-9]+)$`)

// procSuffix is the -GOMAXPROCS suffix of a benchmark name.
var procSuffix = regexp.MustCompile(`-[0-9]+$`)

type series struct {
	name  string // the benchmark with the size replaced by its label: BenchmarkScaleMembers/sticky/members=N
	label string
	sizes map[int]map[string][]float64 // size -> unit -> values
	units []string                     // in the order first seen
}

func main() {
	var order []string
	all := map[string]*series{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		parts := strings.Split(procSuffix.ReplaceAllString(f[0], ""), "/")
		size, label := -1, ""
		for i, p := range parts {
			if m := sizePart.FindStringSubmatch(p); m != nil {
				size, _ = strconv.Atoi(m[2])
				label = m[1]
				parts[i] = m[1] + "=N"
			}
		}
		if size < 0 {
			continue
		}
		key := strings.Join(parts, "/")
		s := all[key]
		if s == nil {
			s = &series{name: key, label: label, sizes: map[int]map[string][]float64{}}
			all[key] = s
			order = append(order, key)
		}
		if s.sizes[size] == nil {
			s.sizes[size] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			u := f[i+1]
			if u == "B/op" {
				continue
			}
			if u == "ns/op" && len(f) > 6 && !strings.Contains(sc.Text(), "allocs/op") {
				continue // a benchmark of its own metrics (one loop of seconds): ns/op is its wall time
			}
			if !slices.Contains(s.units, u) {
				s.units = append(s.units, u)
			}
			s.sizes[size][u] = append(s.sizes[size][u], v)
		}
	}
	top := ""
	for _, key := range order {
		s := all[key]
		var sizes []int
		for n := range s.sizes {
			sizes = append(sizes, n)
		}
		slices.Sort(sizes)
		name, rest, _ := strings.Cut(s.name, "/")
		if name != top {
			top = name
			fmt.Printf("\n%s\n\n| case | %s |", name, s.label)
			for _, u := range s.units {
				fmt.Printf(" %s |", u)
			}
			fmt.Print(" runs | ratio to smallest |\n|---|---:|")
			for range s.units {
				fmt.Print("---:|")
			}
			fmt.Print("---:|---:|\n")
		}
		first := s.units[0]
		base := median(s.sizes[sizes[0]][first])
		for _, n := range sizes {
			fmt.Printf("| %s | %d |", rest, n)
			for _, u := range s.units {
				fmt.Printf(" %s |", num(median(s.sizes[n][u])))
			}
			ratio := "-"
			if base > 0 {
				ratio = fmt.Sprintf("%.2f", median(s.sizes[n][first])/base)
			}
			fmt.Printf(" %d | %s |\n", len(s.sizes[n][first]), ratio)
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

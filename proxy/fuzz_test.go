package proxy

import (
	"strings"
	"testing"
)

// FuzzPathMatching feeds hostile request paths through the code that turns
// them into mount decisions: it never panics, strips every path parameter,
// and a path without ';' is left as it is.
func FuzzPathMatching(f *testing.F) {
	for _, s := range []string{"/app;jsessionid=A.t1/x.jsp", "/", ";", ";;/;", "/a;b", "/%3B;x=/y", ""} {
		f.Add(s, "/app/*")
	}
	f.Fuzz(func(t *testing.T, path, pattern string) {
		got := stripPathParams(path)
		if strings.Contains(got, ";") {
			t.Fatalf("stripPathParams(%q) = %q; still has a parameter", path, got)
		}
		if !strings.Contains(path, ";") && got != path {
			t.Fatalf("stripPathParams(%q) = %q; want it unchanged", path, got)
		}
		if len(got) > len(path) {
			t.Fatalf("stripPathParams(%q) grew to %q", path, got)
		}
		p := compilePattern(pattern)
		_ = p.match(got)
		if pattern == "*" && !p.match(got) {
			t.Fatalf("pattern * does not match %q", got)
		}
		_ = hostOnly(path)
	})
}

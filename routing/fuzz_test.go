package routing

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func FuzzParseSessionID(f *testing.F) {
	for _, s := range []string{"5F3A9C.node-b", "5F3A9C", "a.b.c", ".x", "x.", "", "ABC.DEF.tomcat1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		sid, ok := ParseSessionID(raw)
		if !ok {
			return
		}
		if sid.String() != raw {
			t.Fatalf("round trip: ParseSessionID(%q).String() = %q", raw, sid.String())
		}
		if sid.Route == "" || strings.Contains(sid.ID, ".") {
			t.Fatalf("ParseSessionID(%q) = %+v; want an id without '.' and a non-empty route", raw, sid)
		}
	})
}

func FuzzPathParam(f *testing.F) {
	for _, s := range []string{"/app;jsessionid=A.t1", "/a;jsessionid=A.t1?x", "/a;v=1;jsessionid=X/y", ";jsessionid=", "/a?;jsessionid=x", ";jsessionid;jsessionid=a"} {
		f.Add(s, "jsessionid")
	}
	f.Fuzz(func(t *testing.T, path, name string) {
		v, ok := PathParam(path, name)
		if !ok {
			if v != "" {
				t.Fatalf("PathParam(%q, %q) = %q, false; want \"\" when absent", path, name, v)
			}
			return
		}
		if !strings.Contains(path, ";"+name+"="+v) {
			t.Fatalf("PathParam(%q, %q) = %q, which is not a ;name=value of the path", path, name, v)
		}
		if strings.ContainsAny(v, ";/?") {
			t.Fatalf("PathParam(%q, %q) = %q; want a value without ; / or ?", path, name, v)
		}
	})
}

func FuzzCookieScanner(f *testing.F) {
	for _, s := range []string{"JSESSIONID=A.t1", "a=1; JSESSIONID=A.t9, JSESSIONID=\"B.t2\"\nJSESSIONID=C", " JSESSIONID = x ;;", "JSESSIONID=\"", "=;,"} {
		f.Add(s, "JSESSIONID")
	}
	f.Fuzz(func(t *testing.T, joined, name string) {
		headers := strings.Split(joined, "\n")
		s := NewCookieScanner(headers, name)
		for n := 0; ; n++ {
			v, ok := s.Next()
			if !ok {
				break
			}
			if n > len(joined) {
				t.Fatalf("CookieScanner(%q, %q) yields more values than bytes", joined, name)
			}
			if v == "" || strings.ContainsAny(v, ";,\n") {
				t.Fatalf("CookieScanner(%q, %q) yields %q; want a non-empty value without separators", joined, name, v)
			}
			if !strings.Contains(joined, v) {
				t.Fatalf("CookieScanner(%q, %q) yields %q, not a substring of the input", joined, name, v)
			}
		}
		if v, ok := FirstSession("", headers, SessionNames{Cookie: name}); ok && !strings.Contains(joined, v) {
			t.Fatalf("FirstSession(%q) = %q, not a substring of the input", joined, v)
		}
	})
}

// FuzzPick builds a random table (spec: per member, one byte of state,
// health and weight, one of domain and redirect) and request, and checks
// that Pick never panics, never returns an excluded, stopped or unhealthy
// member, and gives ErrNoMember only when no member could take a new
// request.
func FuzzPick(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 2, 2, 0x80, 0x33}, byte(0), "m1", "", "10.0.0.1", uint64(0), uint64(42))
	f.Add([]byte{0x10, 0x21, 0x02, 0x00, 0x40, 0x13}, byte(0x11), "d1.x", "m2", "", uint64(5), uint64(1)<<63)
	f.Add([]byte{0xff, 0xff, 0x00, 0x00}, byte(3), "m0", "m1", "a", uint64(1), uint64(7))
	f.Fuzz(func(t *testing.T, spec []byte, opt byte, route, pin, addr string, exclude, r uint64) {
		n := min(len(spec)/2, 70)
		ms := make([]Member, n)
		healthy := make([]bool, n)
		for i := range ms {
			a, b := spec[2*i], spec[2*i+1]
			ms[i] = Member{Name: "m" + strconv.Itoa(i), State: State(a % 3), Weight: int(a>>3&3) + 1}
			healthy[i] = a&0x80 == 0
			if d := b % 3; d > 0 {
				ms[i].Domain = "d" + strconv.Itoa(int(d))
			}
			if rd := int(b >> 2); rd < n && b&2 != 0 {
				ms[i].Redirect = "m" + strconv.Itoa(rd)
			}
		}
		opts := Options{Policy: Policy(opt % uint8(lastPolicy+1)), StickyForce: opt&0x10 != 0, Fallback: Policy(opt>>5) % (IPHash + 1), Choose: int(opt>>6) + 2}
		tab, err := NewTable(ms, opts)
		if err != nil {
			t.Fatalf("NewTable(%+v) = %v", ms, err)
		}
		for i, h := range healthy {
			tab.Members()[i].Load.Healthy.Store(h)
			tab.Members()[i].Load.InFlight.Store(int64(r>>uint(i%64)) & 7)
		}
		req := Request{Pin: pin, ClientAddr: addr, Key: pin, Rand: r, Exclude: exclude}
		req.Session, req.HasSession = ParseSessionID("S." + route)
		d, err := tab.Pick(&req)
		usableNew := false
		for i := range ms {
			if !excluded(&req, i) && healthy[i] && ms[i].State == Active {
				usableNew = true
			}
		}
		switch {
		case errors.Is(err, ErrNoMember):
			if usableNew {
				t.Fatalf("Pick(%+v) = %v, but a member could take it (members %+v)", req, err, ms)
			}
			return
		case errors.Is(err, ErrStickyForced):
			if !opts.StickyForce {
				t.Fatalf("Pick(%+v) = %v without sticky_force", req, err)
			}
			return
		case err != nil:
			t.Fatalf("Pick(%+v) = %v", req, err)
		}
		if d.Index < 0 || d.Index >= n || d.Member != &tab.Members()[d.Index] {
			t.Fatalf("Pick(%+v) = index %d, member %p; want a member of the table", req, d.Index, d.Member)
		}
		m := ms[d.Index]
		if excluded(&req, d.Index) || !healthy[d.Index] || m.State == Stopped {
			t.Fatalf("Pick(%+v) = %+v (healthy %v, excluded %v); want a usable member", req, m, healthy[d.Index], excluded(&req, d.Index))
		}
		if m.State == Disabled && d.Reason != ReasonSticky && d.Reason != ReasonRedirect {
			t.Fatalf("Pick(%+v) = disabled %s for %v; want disabled members only for their sessions", req, m.Name, d.Reason)
		}
		if (d.From != "") != (d.Reason >= ReasonRedirect) {
			t.Fatalf("Pick(%+v) = reason %v from %q; want From set exactly on failover", req, d.Reason, d.From)
		}
	})
}

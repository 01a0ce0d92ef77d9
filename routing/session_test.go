package routing

import (
	"slices"
	"testing"
)

func TestParseSessionID(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      SessionID
		wantOK    bool
	}{
		{name: "tomcat id", raw: "C2B3D4CBD3A7ECE4310AD571119A04FF.tomcat1", want: SessionID{ID: "C2B3D4CBD3A7ECE4310AD571119A04FF", Route: "tomcat1"}, wantOK: true},
		{name: "first dot splits", raw: "ABC.DEF.tomcat1", want: SessionID{ID: "ABC", Route: "DEF.tomcat1"}, wantOK: true},
		{name: "route with dash", raw: "5F3A9C.node-b", want: SessionID{ID: "5F3A9C", Route: "node-b"}, wantOK: true},
		{name: "no dot", raw: "5F3A9C", wantOK: false},
		{name: "empty id keeps its route (mod_jk 1.2.48 routes it)", raw: ".tomcat1", want: SessionID{Route: "tomcat1"}, wantOK: true},
		{name: "empty route", raw: "5F3A9C.", wantOK: false},
		{name: "only dot", raw: ".", wantOK: false},
		{name: "empty id, route is a dot", raw: "..", want: SessionID{Route: "."}, wantOK: true},
		{name: "empty", raw: "", wantOK: false},
		{name: "route is a dot", raw: "a..", want: SessionID{ID: "a", Route: "."}, wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseSessionID(tc.raw)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("ParseSessionID(%q) = %+v, %v; want %+v, %v", tc.raw, got, ok, tc.want, tc.wantOK)
			}
			if ok && got.String() != tc.raw {
				t.Errorf("ParseSessionID(%q).String() = %q; want %q", tc.raw, got.String(), tc.raw)
			}
		})
	}
}

func TestPathParam(t *testing.T) {
	for _, tc := range []struct {
		name, path, param string
		want              string
		wantOK            bool
	}{
		{name: "at end", path: "/app/cart;jsessionid=ABC.tomcat1", param: "jsessionid", want: "ABC.tomcat1", wantOK: true},
		{name: "ends at query", path: "/app/cart;jsessionid=ABC.tomcat1?x=1", param: "jsessionid", want: "ABC.tomcat1", wantOK: true},
		{name: "ends at semicolon", path: "/app/cart;jsessionid=ABC.tomcat1;v=2", param: "jsessionid", want: "ABC.tomcat1", wantOK: true},
		{name: "ends at slash", path: "/app;jsessionid=ABC.tomcat1/cart", param: "jsessionid", want: "ABC.tomcat1", wantOK: true},
		{name: "after another param", path: "/a;v=1;jsessionid=X.t2", param: "jsessionid", want: "X.t2", wantOK: true},
		{name: "first of two", path: "/a;jsessionid=X.t1;jsessionid=Y.t2", param: "jsessionid", want: "X.t1", wantOK: true},
		{name: "case-sensitive name", path: "/a;JSESSIONID=X.t1", param: "jsessionid", wantOK: false},
		{name: "needs semicolon", path: "/a/jsessionid=X.t1", param: "jsessionid", wantOK: false},
		{name: "longer name skipped", path: "/a;myjsessionid=X.t1;jsessionid=Y.t2", param: "jsessionid", want: "Y.t2", wantOK: true},
		{name: "name prefix skipped", path: "/a;jsessionidx=X.t1", param: "jsessionid", wantOK: false},
		{name: "no equals", path: "/a;jsessionid", param: "jsessionid", wantOK: false},
		{name: "empty value", path: "/a;jsessionid=?q", param: "jsessionid", want: "", wantOK: true},
		{name: "in query only", path: "/a?b;jsessionid=X.t1", param: "jsessionid", wantOK: false},
		{name: "custom name", path: "/a;sid=X.t1", param: "sid", want: "X.t1", wantOK: true},
		{name: "empty name", path: "/a;=X.t1", param: "", wantOK: false},
		{name: "empty path", path: "", param: "jsessionid", wantOK: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := PathParam(tc.path, tc.param); got != tc.want || ok != tc.wantOK {
				t.Errorf("PathParam(%q, %q) = %q, %v; want %q, %v", tc.path, tc.param, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// cookies drains a CookieScanner.
func cookies(headers []string, name string) []string {
	var out []string
	s := NewCookieScanner(headers, name)
	for v, ok := s.Next(); ok; v, ok = s.Next() {
		out = append(out, v)
	}
	return out
}

func TestCookieScanner(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		cookie  string
		want    []string
	}{
		{name: "one", headers: []string{"JSESSIONID=A.t1"}, cookie: "JSESSIONID", want: []string{"A.t1"}},
		{name: "among others", headers: []string{"a=1; JSESSIONID=A.t1; b=2"}, cookie: "JSESSIONID", want: []string{"A.t1"}},
		{name: "several in order", headers: []string{"JSESSIONID=A.t9; JSESSIONID=B.t2"}, cookie: "JSESSIONID", want: []string{"A.t9", "B.t2"}},
		{name: "several headers", headers: []string{"JSESSIONID=A.t9", "x=1; JSESSIONID=B.t2"}, cookie: "JSESSIONID", want: []string{"A.t9", "B.t2"}},
		{name: "comma separated", headers: []string{"JSESSIONID=A.t9, JSESSIONID=B.t2"}, cookie: "JSESSIONID", want: []string{"A.t9", "B.t2"}},
		{name: "spaces and tabs", headers: []string{" \tJSESSIONID = A.t1 \t;"}, cookie: "JSESSIONID", want: []string{"A.t1"}},
		{name: "quoted", headers: []string{`JSESSIONID="A.t1"`}, cookie: "JSESSIONID", want: []string{"A.t1"}},
		{name: "lone quote kept", headers: []string{`JSESSIONID="`}, cookie: "JSESSIONID", want: []string{`"`}},
		{name: "empty values skipped", headers: []string{`JSESSIONID=; JSESSIONID=""; JSESSIONID=B.t2`}, cookie: "JSESSIONID", want: []string{"B.t2"}},
		{name: "case-sensitive name", headers: []string{"jsessionid=A.t1"}, cookie: "JSESSIONID", want: nil},
		{name: "suffix name", headers: []string{"XJSESSIONID=A.t1; JSESSIONIDX=B.t1"}, cookie: "JSESSIONID", want: nil},
		{name: "value with equals", headers: []string{"JSESSIONID=A=B.t1"}, cookie: "JSESSIONID", want: []string{"A=B.t1"}},
		{name: "no pair", headers: []string{"JSESSIONID; ;;, ,"}, cookie: "JSESSIONID", want: nil},
		{name: "empty headers", headers: []string{"", ""}, cookie: "JSESSIONID", want: nil},
		{name: "nil headers", headers: nil, cookie: "JSESSIONID", want: nil},
		{name: "empty name", headers: []string{"=x"}, cookie: "", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cookies(tc.headers, tc.cookie); !slices.Equal(got, tc.want) {
				t.Errorf("cookies(%q, %q) = %q; want %q", tc.headers, tc.cookie, got, tc.want)
			}
		})
	}
	var zero CookieScanner
	if v, ok := zero.Next(); ok {
		t.Errorf("CookieScanner{}.Next() = %q, true; want \"\", false", v)
	}
}

func TestFirstSession(t *testing.T) {
	for _, tc := range []struct {
		name    string
		path    string
		headers []string
		names   SessionNames
		want    string
		wantOK  bool
	}{
		{name: "path first", path: "/a;jsessionid=P", headers: []string{"JSESSIONID=C"}, want: "P", wantOK: true},
		{name: "empty path param", path: "/a;jsessionid=", headers: []string{"JSESSIONID=C"}, want: "C", wantOK: true},
		{name: "first cookie", headers: []string{"JSESSIONID=C1; JSESSIONID=C2"}, want: "C1", wantOK: true},
		{name: "custom names", path: "/a;s=P", headers: []string{"JSESSIONID=C"}, names: SessionNames{Cookie: "SID", PathParam: "s"}, want: "P", wantOK: true},
		{name: "custom cookie", headers: []string{"JSESSIONID=C; SID=D"}, names: SessionNames{Cookie: "SID"}, want: "D", wantOK: true},
		{name: "none", path: "/a", headers: []string{"x=1"}, wantOK: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := FirstSession(tc.path, tc.headers, tc.names); got != tc.want || ok != tc.wantOK {
				t.Errorf("FirstSession(%q, %q, %+v) = %q, %v; want %q, %v", tc.path, tc.headers, tc.names, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestFindSession(t *testing.T) {
	tab := mustTable(t, Options{},
		Member{Name: "tomcat1", Weight: 1},
		Member{Name: "tomcat2", Weight: 1},
		Member{Name: "az-b.tomcat3", Domain: "az-b", Weight: 1},
	)
	for _, tc := range []struct {
		name    string
		path    string
		headers []string
		names   SessionNames
		want    SessionID
		wantOK  bool
	}{
		{name: "cookie", headers: []string{"JSESSIONID=A.tomcat1"}, want: SessionID{"A", "tomcat1"}, wantOK: true},
		{name: "route after first dot only", headers: []string{"JSESSIONID=ABC.DEF.tomcat1"}, wantOK: false},
		{name: "empty id with a route (mod_jk routes it)", headers: []string{"JSESSIONID=.tomcat2"}, want: SessionID{"", "tomcat2"}, wantOK: true},
		{name: "empty route is balanced", headers: []string{"JSESSIONID=A."}, wantOK: false},
		{name: "second cookie's route exists", headers: []string{"JSESSIONID=A.tomcat9; JSESSIONID=B.tomcat2"}, want: SessionID{"B", "tomcat2"}, wantOK: true},
		{name: "second header", headers: []string{"JSESSIONID=A.tomcat9", "JSESSIONID=B.tomcat2"}, want: SessionID{"B", "tomcat2"}, wantOK: true},
		{name: "path param before cookie", path: "/app;jsessionid=P.tomcat2", headers: []string{"JSESSIONID=C.tomcat1"}, want: SessionID{"P", "tomcat2"}, wantOK: true},
		{name: "unknown path route falls to cookie", path: "/app;jsessionid=P.tomcat9", headers: []string{"JSESSIONID=C.tomcat1"}, want: SessionID{"C", "tomcat1"}, wantOK: true},
		{name: "no route", headers: []string{"JSESSIONID=ABC"}, wantOK: false},
		{name: "unknown route", headers: []string{"JSESSIONID=A.tomcat9"}, wantOK: false},
		{name: "case-sensitive route", headers: []string{"JSESSIONID=A.TOMCAT1"}, wantOK: false},
		{name: "route with dot names member", headers: []string{"JSESSIONID=A.az-b.tomcat3"}, want: SessionID{"A", "az-b.tomcat3"}, wantOK: true},
		{name: "domain prefix", headers: []string{"JSESSIONID=A.az-b.tomcat9"}, want: SessionID{"A", "az-b.tomcat9"}, wantOK: true},
		{name: "domain whole route", headers: []string{"JSESSIONID=A.az-b"}, want: SessionID{"A", "az-b"}, wantOK: true},
		{name: "member beats earlier domain", headers: []string{"JSESSIONID=A.az-b.tomcat9; JSESSIONID=B.tomcat2"}, want: SessionID{"B", "tomcat2"}, wantOK: true},
		{name: "first domain candidate", headers: []string{"JSESSIONID=A.az-b.x; JSESSIONID=B.az-b.y"}, want: SessionID{"A", "az-b.x"}, wantOK: true},
		{name: "custom names", path: "/a;sid=P.tomcat1", headers: []string{"JSESSIONID=C.tomcat2"}, names: SessionNames{Cookie: "SID", PathParam: "sid"}, want: SessionID{"P", "tomcat1"}, wantOK: true},
		{name: "custom cookie ignores default", headers: []string{"JSESSIONID=C.tomcat2"}, names: SessionNames{Cookie: "SID", PathParam: "sid"}, wantOK: false},
		{name: "nothing", path: "/", wantOK: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := tab.FindSession(tc.path, tc.headers, tc.names); got != tc.want || ok != tc.wantOK {
				t.Errorf("FindSession(%q, %q, %+v) = %+v, %v; want %+v, %v", tc.path, tc.headers, tc.names, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestDefaultSessionNames(t *testing.T) {
	if got, want := DefaultSessionNames(), (SessionNames{Cookie: "JSESSIONID", PathParam: "jsessionid"}); got != want {
		t.Errorf("DefaultSessionNames() = %+v; want %+v", got, want)
	}
}

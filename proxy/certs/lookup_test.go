package certs

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
)

// TestListenerLookup: a server name picks its exact policy, else the
// wildcard policy of the domain after its first label (one label only,
// any case, the first of two for the same name), else the unnamed site's;
// a hello without a name gets the IP-address site's.
func TestListenerLookup(t *testing.T) {
	exact, wild, wild2, ip, anyP := &Policy{}, &Policy{}, &Policy{}, &Policy{}, &Policy{}
	lt := NewManager(&config.Global{}, "", zerolog.Nop()).NewListener()
	lt.Add("a.example.com", exact)
	lt.Add("*.example.com", wild)
	lt.Add("*.example.com", wild2)
	lt.Add("192.0.2.7", ip)
	lt.Add("", anyP)
	for _, c := range []struct {
		name string
		want *Policy
		what string
	}{
		{"a.example.com", exact, "exact"},
		{"A.EXAMPLE.COM.", exact, "exact"},
		{"b.example.com", wild, "wildcard"},
		{"B.Example.Com", wild, "wildcard"},
		{"x.y.example.com", anyP, "unnamed"},
		{"example.com", anyP, "unnamed"},
		{"other.test", anyP, "unnamed"},
		{"", ip, "IP address"},
	} {
		if got := lt.lookup(c.name); got != c.want {
			t.Errorf("lookup(%q) is not the %s policy", c.name, c.what)
		}
	}
	noIP := NewManager(&config.Global{}, "", zerolog.Nop()).NewListener()
	noIP.Add("a.example.com", exact)
	noIP.Add("", anyP)
	if got := noIP.lookup(""); got != anyP {
		t.Error("a hello without a name on a listener without an IP site did not get the unnamed site's policy")
	}

	// A reload gives the wildcard policies the new settings of the same name.
	from := NewManager(&config.Global{}, "", zerolog.Nop()).NewListener()
	np := &Policy{}
	c := &Conn{}
	np.conn.Store(&policyConn{c: c})
	from.Add("*.example.com", np)
	lt.Update(from)
	for _, p := range []*Policy{wild, wild2} {
		if p.settings() != c {
			t.Error("Update did not give a wildcard policy the new settings")
		}
	}
	if exact.settings() == c {
		t.Error("Update gave an exact name the wildcard's settings")
	}
}

// TestNoSNIHandshakeAllocs: a hello without a server name on a listener of
// many names finds the IP site without walking (and parsing) every name,
// which allocated once per name.
func TestNoSNIHandshakeAllocs(t *testing.T) {
	lt := NewManager(&config.Global{}, "", zerolog.Nop()).NewListener()
	for i := range 1000 {
		lt.Add(fmt.Sprintf("site%d.example.com", i), &Policy{})
	}
	ip := &Policy{}
	lt.Add("192.0.2.7", ip)
	if n := testing.AllocsPerRun(20, func() {
		if lt.lookup("") != ip {
			t.Fatal("a hello without a name did not get the IP site")
		}
	}); n != 0 {
		t.Errorf("lookup without a server name allocates %v times on a listener of 1,001 names; want 0", n)
	}
}

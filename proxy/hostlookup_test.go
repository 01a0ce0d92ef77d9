package proxy

import "testing"

// TestHostRouterLookup: a Host picks its exact site, else the wildcard
// site of the domain after its first label (one label only, any case, the
// first site of a name when two have it), else the site without a name.
func TestHostRouterLookup(t *testing.T) {
	var exact, wild, wild2, other, anySite site
	h := &hostRouter{}
	h.add("a.example.com", &exact)
	h.add("*.example.com", &wild)
	h.add("*.example.com", &wild2)
	h.add("*.Other.TEST", &other)
	h.add("127.0.0.1", &anySite)
	for _, c := range []struct {
		host string
		want *site
		name string
	}{
		{"a.example.com", &exact, "exact"},
		{"A.Example.com:8443", &exact, "exact"},
		{"b.example.com", &wild, "wildcard"},
		{"B.EXAMPLE.COM:80", &wild, "wildcard"},
		{"www.other.test", &other, "other"},
		{"x.y.example.com", &anySite, "any"},
		{"example.com", &anySite, "any"},
		{".example.com", &wild, "wildcard"},
		{"nodots", &anySite, "any"},
		{"[::1]:80", &anySite, "any"},
		{"", &anySite, "any"},
	} {
		if got := h.lookup(c.host); got != c.want {
			t.Errorf("lookup(%q) is not the %s site", c.host, c.name)
		}
	}
	if (&hostRouter{}).lookup("a.example.com") != nil {
		t.Error("an empty router found a site")
	}
}

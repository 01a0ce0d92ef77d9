package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/proxy"
)

// TestPrintStatusSaysWhoseCounters: the balancer line says its counters
// are this proxy's, and the member table whether it sums the cluster's.
func TestPrintStatusSaysWhoseCounters(t *testing.T) {
	st := proxy.Status{Node: proxy.NodeStatus{Name: "proxy1", Started: time.Now()}, Balancers: []proxy.BalancerStatus{
		{Name: "app", Failovers: 2, CounterProxies: 3, Members: []proxy.MemberStatus{{Name: "tomcat1", Requests: 1, Cluster: &proxy.ClusterCounters{Proxies: 3, Requests: 9}}}},
		{Name: "solo", Members: []proxy.MemberStatus{{Name: "tomcat9", Requests: 4}}},
	}}
	var b strings.Builder
	printStatus(&b, st, time.Now())
	out := b.String()
	for _, want := range []string{
		"this proxy: failovers 2 · retries 0 · no member 0 · pins refused 0 · member counters summed over 3 proxies",
		"this proxy: failovers 0 · retries 0 · no member 0 · pins refused 0 · member counters this proxy's",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tether status lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "tomcat1") || !strings.Contains(strings.SplitN(out, "tomcat1", 2)[1], "  9  ") {
		t.Errorf("tomcat1's row does not show the cluster's 9 requests:\n%s", out)
	}
}

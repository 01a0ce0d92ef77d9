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

// TestPrintStatusResilience: tether status shows a balancer's retry budget,
// refused retries and ejections, and ejections in its recent events.
func TestPrintStatusResilience(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.Local)
	st := proxy.Status{Node: proxy.NodeStatus{Name: "proxy1", Started: at}, Balancers: []proxy.BalancerStatus{{
		Name: "app", RetriesRefused: 7, Ejections: 2, EjectionsKept: 1,
		RetryBudget: &proxy.RetryBudgetStatus{Percent: 20, Window: "10s", Requests: 100, Retries: 5, Allowed: 50},
		RecentFailovers: []proxy.FailoverEvent{
			{At: at, To: "tomcat2", Reason: "back after ejection of 30s"},
			{At: at, From: "tomcat2", Reason: "ejected for 30s: error ratio 52% (26 of 50 attempts) over 10s"},
		},
		Members: []proxy.MemberStatus{{Name: "tomcat2", Reason: "ejected: error ratio 52% (26 of 50 attempts) over 10s"}},
	}}}
	var b strings.Builder
	printStatus(&b, st, at)
	out := b.String()
	for _, want := range []string{
		"retry budget 5 of 50 in 10s · retries refused 7 · ejections 2 · outliers kept in 1 · member counters this proxy's",
		"  ejected  12:00:00  tomcat2  (ejected for 30s: error ratio 52%",
		"  back     12:00:00  tomcat2  (back after ejection of 30s)",
		"down (ejected: error ratio 52%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tether status lacks %q:\n%s", want, out)
		}
	}
}

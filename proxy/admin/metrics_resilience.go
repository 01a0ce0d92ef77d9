package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-proxy/tether/proxy"
)

// Issue 15's metrics: the retry budget and outlier ejection.
var (
	mRetriesRefused = prometheus.NewDesc("tether_balancer_retries_refused_total",
		"Retries the balancer's retry_budget refused: the client got the failed attempt's answer.", []string{"balancer"}, nil)
	mBudgetRetries = prometheus.NewDesc("tether_balancer_retry_budget_retries",
		"Retries sent in the retry budget's current window (present with retry_budget).", []string{"balancer"}, nil)
	mBudgetAllowed = prometheus.NewDesc("tether_balancer_retry_budget_allowed",
		"Retries the retry budget's current window allows: its share of the window's requests plus the floor (present with retry_budget).", []string{"balancer"}, nil)
	mEjectionsKept = prometheus.NewDesc("tether_balancer_outliers_kept_total",
		"Outliers left in rotation because max_ejection of the balancer's members were out already.", []string{"balancer"}, nil)
	mEjections = prometheus.NewDesc("tether_member_ejections_total",
		"Outlier ejections of a member (error ratio or latency far worse than its peers').", memberLabels, nil)
	mEjected = prometheus.NewDesc("tether_member_ejected",
		"1 while a member is out through an outlier ejection, else 0.", memberLabels, nil)
)

var resilienceDescs = []*prometheus.Desc{mRetriesRefused, mBudgetRetries, mBudgetAllowed, mEjectionsKept, mEjections, mEjected}

// collectResilience sends a balancer's retry budget and ejection metrics.
func collectResilience(ch chan<- prometheus.Metric, b proxy.BalancerStatus) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(mRetriesRefused, b.RetriesRefused, b.Name)
	counter(mEjectionsKept, b.EjectionsKept, b.Name)
	if rb := b.RetryBudget; rb != nil {
		gauge(mBudgetRetries, float64(rb.Retries), b.Name)
		gauge(mBudgetAllowed, rb.Allowed, b.Name)
	}
	for _, m := range b.Members {
		counter(mEjections, m.Ejections, b.Name, m.Name)
		gauge(mEjected, b2f(m.EjectedUntil != nil), b.Name, m.Name)
	}
}

// Package admin is what Tether's admin listener serves: /healthz for the
// load balancer in front, the status page, Prometheus /metrics, the JSON
// status (/api/status), member state changes and reloads.
//
// Everything it shows comes from one read of the running state,
// proxy.Server.Status (the read model): the page renders it, /api/status
// is its JSON and /metrics is built from it at scrape time, so the three
// never disagree. Actions go through the server's methods
// (SetMemberState, ReloadFile). The package imports proxy; proxy never
// imports it: a proxy gets its admin API through proxy.Options.Admin.
//
// Requests are guarded in order: the Host must name this listener (DNS
// rebinding), the token must match when one is set (bearer or Basic), and
// a state-changing request must carry X-Tether-Admin and come from this
// origin (cross-site forgery).
package admin

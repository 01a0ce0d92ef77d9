// Package agent is the backend agent: it runs beside an application node
// (a Tomcat, any HTTP or AJP server), joins the cluster as a backend member
// advertising the node's service, route, URL, domain and weight, keeps the
// advertised health current from a local check, and when stopped
// advertises draining before it leaves, so that proxies stop sending new
// work first. It finds the proxies to join as a proxy finds its peers:
// static seeds or membership's discovery providers (EC2 tags, an S3
// registry, DNS), which ParseDiscover reads from --discover's one-line
// form. `tether agent` and `tether demo` both run it.
package agent

// Package proxy is Tether's request path: the listeners and their edge
// (framing watch, limits, timeouts), the host router and sites, the
// balancers with their members over HTTP (HTTP/1.1, HTTP/2 over TLS,
// cleartext HTTP/2; gRPC only over HTTP/2: transport.go) or AJP, session stickiness
// (jvmRoute, the replicated session table, signed affinity cookies,
// failover pins), forwarded headers, client certificates (from the
// handshake or a trusted ALB, to AJP and HTTP members: clientcert.go),
// errors classified by who caused them, the access log, the file server,
// and reloads. Each site's request pipeline (pipeline.go) runs its
// handlers in Caddy's order, with matchers compiled once (matcher.go; CEL
// expression matchers evaluated by expr.go), and a reverse_proxy may hand
// members' answers to handle_response routes (handleresponse.go).
// Members' max_conns and the balancer's queue of requests waiting for one
// are in queue.go, slow_start's ramp in slowstart.go.
//
// A Server is one running configuration. New builds it from a
// config.Config (pure: nothing is bound), Listen binds, Serve serves until
// its context ends and then drains. Status is the read model of the
// running state that the admin API (package admin) shows.
//
// Below it: package certs obtains and chooses TLS certificates and each
// site's handshake settings (protocols, ciphers, curves, client_auth),
// proxyproto reads PROXY protocol headers, ajp speaks AJP13 to Tomcat,
// routing decides which member gets a request, replication shares the
// session table with the other proxies and membership says who they are.
// None of them imports proxy; admin imports it.
package proxy

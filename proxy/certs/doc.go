// Package certs owns the certificates of Tether's https listeners: one
// Policy per site address (ACME through certmagic, the internal CA for
// names no public CA certifies, or the operator's own files), on-demand
// issuance behind an ask URL and a rate limit, the storage (a directory,
// or an S3 bucket shared by the fleet, package s3store) and the choice of
// certificate by server name at each handshake.
//
// The same choice gives each handshake its site's settings (Conn, from
// tls { protocols; ciphers; curves; client_auth }): a site with settings
// of its own gets a tls.Config of its own from GetConfigForClient, which
// tells the connection (HandshakeRecorder) which settings it was made
// with, so the proxy can hold each request to them. A reload replaces the
// settings in place (Listener.Update); handshakes read them through an
// atomic pointer per policy.
//
// certmagic logs through zap; the bridge in zaplog.go sends those events
// to the process's zerolog logger. HTTP-01 challenges are answered by the
// plain-HTTP listeners of package proxy through Manager.HandleHTTPChallenge,
// so that any instance answers the challenge any instance began.
package certs

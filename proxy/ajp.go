package proxy

import (
	"errors"
	"net/http"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/proxy/ajp"
)

// ajpTransport builds the AJP13 transport of one ajp:// member from its
// balancer's settings: response_header_timeout is the reply timeout (mod_jk
// reply_timeout; finite, because Tomcat fails an oversized response header
// silently and leaves the socket open). Its pool opens at most maxConns
// connections (the member's max_conns, 0: no limit): one per request the
// balancer lets through, so none waits for a connection.
func (s *Server) ajpTransport(b *config.Balancer, maxConns int) (http.RoundTripper, error) {
	cfg := ajp.DefaultConfig()
	cfg.Secret = b.AJPSecret
	if b.AJPPacketSize > 0 {
		cfg.PacketSize = b.AJPPacketSize
	}
	if b.MaxIdleConns > 0 {
		cfg.MaxIdle = b.MaxIdleConns
	}
	cfg.IdleTimeout = orDefault(b.IdleTimeout, cfg.IdleTimeout)
	cfg.DialTimeout = orDefault(b.DialTimeout, cfg.DialTimeout)
	cfg.ReplyTimeout = orDefault(b.ResponseHeaderTimeout, cfg.ReplyTimeout)
	cfg.MaxConns = maxConns
	return ajp.New(cfg)
}

// isHeadersTooLarge reports whether err is the AJP transport's "request
// headers do not fit one packet" error (answered 413).
func isHeadersTooLarge(err error) bool { return errors.Is(err, ajp.ErrHeadersTooLarge) }

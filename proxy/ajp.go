package proxy

import (
	"errors"
	"net/http"

	"github.com/tether-proxy/tether/config"
)

// ajpTransport builds the AJP13 transport for a balancer's ajp:// members.
func (s *Server) ajpTransport(b *config.Balancer) (http.RoundTripper, error) {
	if s.opts.CheckOnly {
		return http.DefaultTransport, nil
	}
	return nil, errors.New("ajp:// members are not built yet")
}

// isHeadersTooLarge reports whether err is the AJP transport's "request
// headers do not fit one packet" error (answered 413).
func isHeadersTooLarge(err error) bool { return false }

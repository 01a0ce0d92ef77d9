package proxy

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"

	"github.com/tether-proxy/tether/routing"
)

// proxyError is the one place where a failure becomes a status code:
//
//	no usable member, sticky_force           503
//	a member's timeout                       504
//	request headers too large for AJP        413
//	client went away                         499 in the log, nothing written
//	anything else from the member            502
//
// The answer carries a request id, also logged, so a user's report can be
// matched with the log line.
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	var ne net.Error
	switch {
	case errors.Is(err, routing.ErrNoMember), errors.Is(err, routing.ErrStickyForced):
		status = http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		status = 499
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		status = http.StatusGatewayTimeout
	case isHeadersTooLarge(err):
		status = http.StatusRequestEntityTooLarge
	}
	id := requestID()
	ev := s.log.Warn()
	if status == 499 {
		ev = s.log.Debug()
	}
	if ev.Enabled() {
		if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
			ev = ev.Str("balancer", st.b.name).Str("member", st.dec.Member.Name).Int("attempts", st.attempts)
		}
		ev.Str("request_id", id).Int("status", status).Str("method", r.Method).Str("host", r.Host).Err(err).Msg("request failed")
	}
	setLoggedStatus(r, status, id)
	if status == 499 {
		return
	}
	h := w.Header()
	h.Set("X-Request-Id", id)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(strconv.Itoa(status) + " " + http.StatusText(status) + "\nrequest id: " + id + "\n"))
}

// requestID returns 16 random hex digits.
func requestID() string {
	const hex = "0123456789abcdef"
	var b [16]byte
	v := rand.Uint64()
	for i := range b {
		b[i] = hex[v&15]
		v >>= 4
	}
	return string(b[:])
}

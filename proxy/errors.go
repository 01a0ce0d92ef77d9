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

// proxyError is the one place where a failure becomes a status code. The
// client's own faults get a 4xx and never count against a member (the
// balancer classified them as *clientError):
//
//	malformed or short request body          400
//	gRPC call a TLS member took as HTTP/1.1  400 with grpc-status 12 (no member at fault)
//	request body too slow (body_timeout)     408
//	request too large (body, AJP headers)    413
//	client went away                         499 in the log, nothing written
//	no usable member, sticky_force           503
//	every member at max_conns (queue.go)     503 with Retry-After: queue_timeout passed, or max_queue waiting
//	a member's timeout                       504
//	anything else from the member            502
//
// The answer carries a request id, also logged, so a user's report can be
// matched with the log line.
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st, _ := r.Context().Value(stateKey{}).(*reqState)
	if nh, ok := errors.AsType[*noH2Error](err); ok && st != nil {
		// A gRPC call to a TLS member that chose HTTP/1.1: refused as
		// when the config says a member speaks HTTP/1.1 (400 with
		// grpc-status 12); no member is at fault.
		st.b.refuseGRPC(w, r, nh.Error()+"; gRPC needs HTTP/2 (or set versions 1.1 for this balancer)")
		return
	}
	status := http.StatusBadGateway
	var ne net.Error
	ce, isClient := errors.AsType[*clientError](err)
	qe, isQueue := errors.AsType[*queueError](err)
	switch {
	case isClient:
		status = ce.status
	case errors.Is(err, routing.ErrNoMember), errors.Is(err, routing.ErrStickyForced):
		status = http.StatusServiceUnavailable
	case isQueue: // every member at max_conns: queue_timeout passed, or max_queue wait
		status = http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled) && (st != nil && st.clientGone() || st == nil && r.Context().Err() != nil):
		status = statusClientGone
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		status = http.StatusGatewayTimeout
	}
	id := requestID()
	ev := s.log.Warn()
	switch {
	case status == statusClientGone:
		ev = s.log.Debug() // clients leave all the time
	case status < 500:
		ev = s.log.Info() // the client's doing: no member is at fault
	}
	if ev.Enabled() {
		if st != nil {
			ev = ev.Str("balancer", st.b.name).Str("member", st.dec.Member.Name).Int("attempts", st.attempts)
		}
		ev.Str("request_id", id).Int("status", status).Str("method", r.Method).Str("host", r.Host).Err(err).Msg("request failed")
	}
	setLoggedStatus(r, status, id)
	if status == statusClientGone {
		// Nothing to answer, and net/http must not answer an empty 200
		// for us: abort the response (HTTP/1.x closes the connection,
		// HTTP/2 resets the stream).
		panic(http.ErrAbortHandler)
	}
	h := w.Header()
	h.Set("X-Request-Id", id)
	switch status {
	case http.StatusBadRequest, http.StatusRequestTimeout, http.StatusRequestEntityTooLarge:
		// The body was not read to its end: what follows on the
		// connection is not a request.
		h.Set("Connection", "close")
	}
	if handledError(w, r, status, errorMessage(status, ce), id) {
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		retry := 1
		if isQueue {
			retry = qe.retryAfter
		}
		h.Set("Retry-After", strconv.Itoa(retry))
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(strconv.Itoa(status) + " " + http.StatusText(status) + "\nrequest id: " + id + "\n"))
}

// errorMessage is {err.message} for a proxy error: what happened, never
// the transport's own text, which names members' addresses.
func errorMessage(status int, ce *clientError) string {
	switch {
	case ce != nil:
		return "the request could not be read: " + ce.err.Error()
	case status == http.StatusServiceUnavailable:
		return "no member can take the request"
	case status == http.StatusGatewayTimeout:
		return "the member did not answer in time"
	}
	return "the member failed to answer"
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

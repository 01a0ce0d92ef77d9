package proxy

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/tether-proxy/tether/config"
)

// Caddy's handle_errors: the errors Tether itself produces (a file_server
// 404, a balancer's 502, 503 and 504, a refused body's 413, basic_auth's
// 401, the error directive, try_files' =STATUS, a request no route
// answered) are answered by the site's error routes when one handles the
// status, instead of the default error page. A member's answer is never an
// error, whatever its status: it passes as it is, unless the
// reverse_proxy's handle_response takes it (handleresponse.go), as in
// Caddy.
//
// A site with error routes puts them in the request's context; the
// producers call serveError, which finds them there. The error routes run
// with the error in the context too ({err.status_code}, {err.message},
// ...), so an error they produce themselves (a missing error page) gets the
// default page and never loops.

// errorPages are a site's handle_errors blocks, compiled in their order.
type errorPages struct {
	routes []errorRoute
}

type errorRoute struct {
	cfg  *config.ErrorRoute
	prog *program
}

// find returns the program of the first error route for status, or nil.
func (e *errorPages) find(status int) *program {
	for i := range e.routes {
		if e.routes[i].cfg.Handles(status) {
			return e.routes[i].prog
		}
	}
	return nil
}

// errInfo is the error the error routes are answering.
type errInfo struct {
	status  int
	message string // what went wrong, without member addresses or paths
	id      string // the request id (the default error page and the log show it too)
}

type (
	errorPagesKey struct{}
	errInfoKey    struct{}
)

// withErrorPages puts the site's error routes in r's context; nil leaves
// r as it is (the common case allocates nothing).
func withErrorPages(r *http.Request, e *errorPages) *http.Request {
	if e == nil {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), errorPagesKey{}, e))
}

// errorOf returns the error r's error route is answering, or nil.
func errorOf(r *http.Request) *errInfo {
	e, _ := r.Context().Value(errInfoKey{}).(*errInfo)
	return e
}

// handledError answers an error of the given status with the site's
// error routes and reports whether it did: false when the site has none
// for the status, or when r is already being answered by one (an error of
// an error route gets the default page). id is the request id, "" for a
// new one.
func handledError(w http.ResponseWriter, r *http.Request, status int, message, id string) bool {
	pages, _ := r.Context().Value(errorPagesKey{}).(*errorPages)
	if pages == nil || errorOf(r) != nil {
		return false
	}
	prog := pages.find(status)
	if prog == nil {
		return false
	}
	if id == "" {
		id = requestID()
	}
	info := &errInfo{status: status, message: message, id: id}
	er := r.WithContext(context.WithValue(r.Context(), errInfoKey{}, info))
	// The error page is answered without the client's body: a member that
	// serves error pages must never receive a body Tether refused.
	er.Body, er.ContentLength = http.NoBody, 0
	er.Header = r.Header.Clone()
	er.Header.Del("Content-Length")
	er.Header.Del("Transfer-Encoding")
	er.TransferEncoding = nil
	setLoggedStatus(r, 0, id) // the access log records the status the error route writes
	prog.ServeHTTP(w, er)
	return true
}

// serveError answers an error: by the site's error routes, else with the
// default page (the status and its text, as text/plain).
func serveError(w http.ResponseWriter, r *http.Request, status int, message string) {
	if handledError(w, r, status, message, "") {
		return
	}
	defaultErrorPage(w, r, status)
}

// defaultErrorPage writes the status with its text, as net/http's
// http.Error does for the file server's and the end's errors.
func defaultErrorPage(w http.ResponseWriter, r *http.Request, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, strconv.Itoa(status)+" "+http.StatusText(status)+"\n")
	}
}

// errorEnd is what an error route's program does when none of its routes
// answered: Caddy writes the error's status with no body.
type errorEnd struct{}

func (errorEnd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status := http.StatusInternalServerError
	if e := errorOf(r); e != nil {
		status = e.status
	}
	w.WriteHeader(status)
}

// notFound is a site's program's end: a request no route answered is a
// 404 error (handle_errors sees it).
type notFound struct{}

func (notFound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serveError(w, r, http.StatusNotFound, "no route of the site answers this request")
}

// errorHandler is Caddy's error directive.
type errorHandler struct{ cfg *config.ErrorAnswer }

func (e errorHandler) serve(w http.ResponseWriter, r *http.Request, _ *program, _ int) {
	serveError(w, r, e.cfg.Status, expand(&e.cfg.Message, r, ""))
}

// errorStatusWriter answers with status where a handler would answer 200:
// a file_server serving an error page keeps the error's status.
type errorStatusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *errorStatusWriter) WriteHeader(code int) {
	if code == http.StatusOK {
		code = w.status
	}
	w.wrote = w.wrote || code >= 200
	w.ResponseWriter.WriteHeader(code)
}

func (w *errorStatusWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *errorStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errPlaceholder is the value of an {err.*} placeholder for r.
func errPlaceholder(r *http.Request, v string) string {
	e := errorOf(r)
	if e == nil {
		return ""
	}
	switch v {
	case "err.status_code":
		return strconv.Itoa(e.status)
	case "err.status_text":
		return http.StatusText(e.status)
	case "err.message":
		return e.message
	case "err.id":
		return e.id
	}
	return "" // err.trace
}

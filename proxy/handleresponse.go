package proxy

import (
	"net/http"
)

// interceptedKey holds the member's answer a handle_response block is
// handling, in the context of the request it runs for.
type interceptedKey struct{}

// interceptedOf returns the member's answer r's handle_response block
// handles, or nil.
func interceptedOf(r *http.Request) *http.Response {
	resp, _ := r.Context().Value(interceptedKey{}).(*http.Response)
	return resp
}

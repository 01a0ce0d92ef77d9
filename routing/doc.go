// Package routing holds Tether's pure routing decisions: reading the session
// id of a request, splitting it into id and route, and choosing the member a
// request goes to (sticky, failover or balanced).
//
// It does no I/O, reads no clock and logs nothing; everything it needs comes
// in as arguments, so every rule has a table test.
package routing

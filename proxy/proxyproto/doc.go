// Package proxyproto reads the PROXY protocol (HAProxy's specification,
// versions 1 and 2), as an AWS NLB sends it in front of a TCP listener: the
// header comes first on the connection and names the client's address.
//
// The policy: a peer inside the allowed ranges must send a header (a v2
// LOCAL header, as NLB health checks send, keeps the peer's own address);
// from any other peer a header is refused and the connection closed, and a
// connection without one is served as a direct client. The header is read
// on the connection's first use, within the listener's HeaderTimeout, never
// in the accept loop.
package proxyproto

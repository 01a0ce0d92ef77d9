package node

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"net"
	"strconv"
)

// The rules every proxy of a cluster must agree on: a proxy that applied
// another would not reach its peers' session tables, or would refuse their
// affinity cookies. They are fixed by this release; changing one is a
// protocol change.

// ReplicationBind is where a proxy's session table listens, given the
// cluster's gossip bind address: the same host, the gossip port plus one
// (7947 beside the default 7946). Port 0 (tests: any free port) stays 0.
// Peers find the address in the proxy's membership metadata, so only the
// default needs to be predictable, for firewall rules.
func ReplicationBind(gossipBind string) (string, error) {
	host, port, err := net.SplitHostPort(gossipBind)
	if err != nil {
		return "", fmt.Errorf("cluster bind %q: %w", gossipBind, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65534 {
		return "", fmt.Errorf("cluster bind %q: the port must be 0..65534 (replication uses the next one)", gossipBind)
	}
	if p != 0 {
		p++
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// AffinityKey derives the key that signs `sticky cookie` values from the
// cluster's first gossip key (raw bytes) and the cluster name, with HKDF
// (SHA-256, no salt): every proxy holding the key derives the same one,
// and the gossip key itself never signs anything else.
func AffinityKey(gossipKey []byte, cluster string) ([]byte, error) {
	return hkdf.Key(sha256.New, gossipKey, nil, "tether affinity cookie "+cluster, 32)
}

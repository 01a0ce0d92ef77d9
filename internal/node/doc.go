// Package node runs one Tether proxy: Run owns its whole lifecycle, from
// the session table and the cluster membership to the listeners, the
// reloads and the ordered stop (drain, leave the cluster, stop
// replicating). A process turns its signals into Run's context and reload
// channel; `tether run` and `tether demo` are such processes.
//
// It also holds the rules every proxy of a cluster must agree on
// (conventions.go): where the session table listens beside gossip, and how
// the affinity cookie key is derived from the cluster key.
package node

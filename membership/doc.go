// Package membership is Tether's cluster membership: a gossip pool on
// hashicorp/memberlist that proxies and backend agents join, the metadata
// each member announces, the discovery providers that find members to join
// on networks without multicast (static lists, DNS, EC2 DescribeInstances,
// an S3 registry), and the immutable Views of live members it publishes.
//
// It does not decide routing (routing does, from Views the proxy turns into
// Tables), carry session state (replication has its own channel; the
// memberlist user-message and push/pull delegates are unused here), or read
// the config file: the proxy translates config.Discover into DiscoverSpec
// and config.Cluster into Config. It imports no other Tether package.
//
// # Using it
//
//	c, err := membership.New(membership.Config{Name: "proxy-a", Cluster: "prod",
//		Bind: "0.0.0.0:7946", Advertise: "auto", GossipKeys: keys,
//		Meta: membership.Meta{Role: membership.RoleProxy, Addr: "10.0.1.5:7947"},
//		Providers: providers})
//	go c.Run(ctx)                  // joins, re-joins, publishes; leaves when ctx ends
//	ch, cancel := c.Subscribe()    // cap-1 notifications
//	for range ch { v := c.View(); ... }
//
// # Metadata
//
// Meta is encoded in a small binary format (see EncodeMeta): a format byte,
// fixed bytes for role, state and health, varints for weight and version,
// then length-prefixed strings, then a proxy's 8-byte balancer digest
// behind a flag bit (the first appended field). Decoders ignore trailing
// bytes and unknown flags, so fields can be appended without a format
// change. SetMeta stamps Version (at least
// the previous one plus one, and at least the wall clock in milliseconds,
// so it also grows across restarts) and gossips the change with
// memberlist's UpdateNode.
//
// # Concurrency
//
// A Cluster has two goroutines of its own, both started and stopped by Run:
// the publisher (Run itself), which builds a new View whenever a member
// changes, and the re-join loop, which runs discovery and joins. Join
// attempts run one goroutine per address, tracked and waited for on stop.
// memberlist's delegates (delegates.go) run under memberlist's node lock:
// they copy the node into a map under Cluster.mu (taken inside memberlist's
// lock, never the reverse) and wake the publisher through a cap-1 channel.
// Readers call View, an atomic.Pointer load of an immutable snapshot; a
// View must not be modified. Subscribers get a cap-1 channel each: a slow
// reader misses intermediate notifications, never the last one. SetMeta is
// serialized by its own mutex and hands the encoded bytes to memberlist
// through an atomic pointer. Providers are called from the re-join loop
// only but are safe for concurrent use.
//
// # Traps and how each is handled
//
//   - Metadata over 512 bytes makes memberlist panic (in Create and
//     UpdateNode). EncodeMeta refuses it with ErrMetaTooLarge; New and
//     SetMeta return that error and keep the old metadata; NodeMeta checks
//     the limit again and never returns more.
//   - No automatic re-merge after a partition: once GossipToTheDeadTime has
//     passed, memberlist neither probes nor gossips to the other side, and
//     push/pull only picks live members, so two halves stay apart forever
//     (TestPartitionHealsByRejoin's control shows it). The re-join loop asks
//     the providers every RejoinInterval (sooner, with backoff from 1s, while
//     this node is alone) and joins every discovered address that is not a
//     live member's; one push/pull per side merges the halves.
//   - Join blocks on a dead address: memberlist.Join dials seeds one after
//     another, each for up to TCPTimeout (10s on LAN), and a seed that
//     accepts but never answers holds it for as long. Cluster.Join runs
//     one attempt per address in parallel and returns after JoinTimeout; an
//     abandoned attempt is not restarted while it runs, and the transport
//     wrapper (transport.go) closes its dial or stream at shutdown, so it
//     never outlives Run. Run's first round ends within JoinTimeout
//     (Started).
//   - Broadcasts that stop spreading: memberlist sends a queued user
//     broadcast only RetransmitMult×log(N) times. This package sends none;
//     metadata rides on alive messages, which every receiver re-gossips,
//     and the periodic push/pull repairs anything lost. The local profile
//     raises memberlist's RetransmitMult of 2 back to 4 after a measured
//     17.9s convergence of 10 local nodes.
//   - Two clusters mixing: the cluster name is memberlist's Label, prefixed
//     to every packet and stream and, with a key, authenticated as GCM
//     additional data. A member of another cluster is refused; the refusing
//     side logs "discarding stream with unacceptable label", the joiner only
//     sees EOF (the join-round warning carries a hint).
//   - Wrong gossip key: packets and streams that no key in the keyring
//     decrypts are dropped; the receiver logs "no installed keys could
//     decrypt the message" at error level, which is also what the joiner's
//     Join error says. Keys rotate by listing the new key second everywhere,
//     then first, then removing the old one.
//   - Advertise address: with a wildcard Bind memberlist looks for a private
//     IP and fails without one; Config.Advertise sets it explicitly, and
//     "auto" takes local-ipv4 from the EC2 instance metadata service.
//   - memberlist logs through a *log.Logger and keeps logging briefly after
//     Shutdown (it does not wait for its goroutines): logbridge.go maps
//     [DEBUG]/[INFO]/[WARN]/[ERR] to zerolog levels and goes silent once
//     the Cluster has stopped. The AWS SDK's logger is bridged too
//     (awslog.go), so nothing is written to stderr.
//   - Leave after Shutdown panics in memberlist: stop runs once and always
//     leaves before it shuts down.
//
// # Discovery providers
//
// Every provider returns its last good answer with an error naming the
// provider and the operation when a lookup fails; Combine asks several at
// once and answers the union. static: fixed host:port seeds. dns: A/AAAA
// with a default port, or SRV (names starting with "_") with their ports.
// ec2: DescribeInstances, every page, filtered to running instances with
// the given tags (key=value, or key alone), optional security group (id or
// name) and VPC, private or public address, a port; default credential
// chain, optional STS AssumeRole, endpoint override for tests; its
// Instances lists the same instances with their ids and tags, for a
// balancer's discover ec2 (proxy). The call goes through a small Query API
// client signed by the SDK's SigV4 signer (ec2query.go), not the SDK's
// generated EC2 client. s3: one object
// per member at <prefix><name> holding its address, a heartbeat time and a
// per-process id; rewritten every TTL/3 from the re-join loop; entries whose
// LastModified (S3's clock, not the writers') is older than TTL are skipped
// and deleted with If-Match on the listed ETag, so an entry rewritten
// meanwhile survives; on a graceful leave a member deletes its entry with
// If-Match on the ETag it wrote, so a successor that re-registered the name
// keeps its entry.
//
// # Profiles
//
// lan (default), wan and local select memberlist's DefaultLANConfig,
// DefaultWANConfig or DefaultLocalConfig with the adjustments documented in
// profile.go, plus this package's RejoinInterval, JoinTimeout and
// LeaveTimeout defaults. Measured on loopback with three members: graceful
// leave seen by all within ~0.1s; a crash detected in ~2.5s (local) and
// 6–7s (lan), under -race on a shared two-core machine.
package membership

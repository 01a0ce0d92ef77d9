package membership

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// Profile names accepted by Config.Profile.
const (
	ProfileLAN   = "lan"
	ProfileWAN   = "wan"
	ProfileLocal = "local"
)

// profile is one set of tuned timings: memberlist's own settings plus the
// ones this package adds.
type profile struct {
	ml func() *memberlist.Config
	// tune adjusts memberlist's defaults; each value says why.
	tune func(*memberlist.Config)
	// rejoin is the default Config.RejoinInterval, join the default
	// Config.JoinTimeout, leave the default Config.LeaveTimeout.
	rejoin, join, leave time.Duration
}

var profiles = map[string]profile{
	// lan: one region or data centre. memberlist's LAN defaults (probe 1s,
	// timeout 500ms, gossip 200ms to 3 nodes, suspicion 4×, push/pull 30s)
	// measured 5–10s crash detection and 0.2–0.6s leave propagation.
	ProfileLAN: {
		ml: memberlist.DefaultLANConfig,
		tune: func(c *memberlist.Config) {
			// 10s by default; a stream that has not finished in 5s on a LAN is
			// dead. Joins are bounded separately (Config.JoinTimeout).
			c.TCPTimeout = 5 * time.Second
			// Let a node that comes back under the same name with a new
			// address (autoscaling, a replaced instance) take its name back
			// 30s after it was declared dead, instead of never.
			c.DeadNodeReclaimTime = 30 * time.Second
		},
		rejoin: 30 * time.Second, // as Consul's retry_interval; also the S3 heartbeat cadence
		join:   3 * time.Second,  // a LAN seed answers a push/pull in well under a second
		leave:  3 * time.Second,  // leave propagation measured at 0.2–0.6s
	},
	// wan: members across regions. memberlist's WAN defaults (probe 5s,
	// timeout 3s, gossip 500ms to 4 nodes, suspicion 6×, push/pull 60s)
	// measured 43s crash detection: slow, but it survives cross-region jitter.
	ProfileWAN: {
		ml: memberlist.DefaultWANConfig,
		tune: func(c *memberlist.Config) {
			c.DeadNodeReclaimTime = 60 * time.Second // as lan, at the WAN pace
		},
		rejoin: 60 * time.Second, // matches the WAN push/pull interval
		join:   10 * time.Second, // cross-region TCP plus TLS-less push/pull of the full state
		leave:  5 * time.Second,  // WAN gossip is every 500ms; allow several rounds
	},
	// local: one host (tests, `tether demo`). memberlist's Local defaults
	// with its retransmit multiplier raised back to 4: at 2, some alive
	// messages were lost and a 10-node cluster took 17.9s to converge.
	ProfileLocal: {
		ml: memberlist.DefaultLocalConfig,
		tune: func(c *memberlist.Config) {
			c.RetransmitMult = 4
			// Loopback RTT is µs, but one host is often a loaded one (a
			// laptop, CI with -race): at 200ms/100ms members falsely
			// suspected each other under load. 500ms/250ms held, and
			// detects a crash in about 2–4s.
			c.ProbeInterval = 500 * time.Millisecond
			c.ProbeTimeout = 250 * time.Millisecond
			c.GossipInterval = 50 * time.Millisecond // spreads a change in a few 50ms rounds
			c.SuspicionMult = 3                      // min suspicion 3×500ms = 1.5s
			c.PushPullInterval = 5 * time.Second     // anti-entropy backstop, cheap on loopback
			c.GossipToTheDeadTime = 5 * time.Second  // forget the dead quickly; the re-join loop heals
			c.TCPTimeout = time.Second               // memberlist's local value
			c.DeadNodeReclaimTime = 2 * time.Second  // restarted local nodes reuse names at once
		},
		rejoin: 2 * time.Second, // a healed split merges within seconds
		join:   time.Second,     // loopback answers in milliseconds
		leave:  time.Second,     // leave measured at ~0.2s
	},
}

func lookupProfile(name string) (profile, error) {
	if name == "" {
		name = ProfileLAN
	}
	p, ok := profiles[name]
	if !ok {
		return profile{}, fmt.Errorf("unknown profile %q (want lan, wan or local)", name)
	}
	return p, nil
}

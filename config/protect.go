package config

import "time"

// Protecting the members (issue 15, points 1 and 2): max_conns, its queue
// and slow_start. Kept apart from the other reverse_proxy options so that
// the balancer's parser only calls protectOption.

// The options are listed in reverseProxyOptions; Caddy's spellings of
// max_conns (its upstream's max_requests, and the Caddyfile's
// unhealthy_request_count: no more than N requests at once to one
// upstream) are caddyAliases.

// Defaults of the queue, used when max_conns is set and the block does not
// set them.
const (
	// DefaultMaxQueue bounds the requests one balancer holds waiting
	// (HAProxy's queue has no bound; a bound keeps memory finite: about
	// 1 KiB of Tether's own per waiting request, beside the connection).
	DefaultMaxQueue = 1000
	// DefaultQueueTimeout is how long a request waits for a member
	// (HAProxy's timeout queue defaults to its connect timeout; a waiting
	// client is better told soon).
	DefaultQueueTimeout = 10 * time.Second
)

func init() {
	durationBounds["queue_timeout"] = [2]time.Duration{time.Millisecond, time.Hour}
	durationBounds["slow_start"] = [2]time.Duration{100 * time.Millisecond, 24 * time.Hour}
}

// protectOption parses one of protectOptions into bal; handled is false for
// any other option.
func protectOption(d *node, name string, bal *Balancer) (handled bool, err error) {
	switch name {
	case "max_conns":
		return true, intOption(d, &bal.MaxConns, 1, 1<<20)
	case "max_queue":
		return true, intOption(d, &bal.MaxQueue, 1, 1<<20)
	case "queue_timeout":
		return true, durOption(d, &bal.QueueTimeout)
	case "slow_start":
		return true, durOption(d, &bal.SlowStart)
	}
	return false, nil
}

// memberMaxConns parses a backend block's "max_conns N" (mod_jk's
// busy_limit of one worker).
func memberMaxConns(s *node, m *Member) error {
	return intOption(s, &m.MaxConns, 1, 1<<20)
}

// checkProtect validates the protection settings of a whole balancer (from
// a reverse_proxy block or an import) and fills in the queue's defaults
// when some member has a limit.
func checkProtect(bal *Balancer) error {
	limited := bal.MaxConns > 0
	for _, m := range bal.Members {
		limited = limited || m.MaxConns > 0
	}
	if !limited {
		if bal.MaxQueue > 0 || bal.QueueTimeout > 0 {
			return errorf(bal.Pos, "balancer %s: max_queue and queue_timeout need max_conns (on the balancer or a backend)", bal.Name)
		}
		return nil
	}
	if bal.MaxQueue == 0 {
		bal.MaxQueue = DefaultMaxQueue
	}
	if bal.QueueTimeout == 0 {
		bal.QueueTimeout = DefaultQueueTimeout
	}
	return nil
}

// EffectiveMaxConns returns member m's limit of requests in flight: its own
// max_conns, else the balancer's; 0 means none.
func (bal *Balancer) EffectiveMaxConns(m *Member) int {
	if m.MaxConns > 0 {
		return m.MaxConns
	}
	return bal.MaxConns
}

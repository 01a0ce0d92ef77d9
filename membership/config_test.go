package membership

import (
	"testing"
	"time"
)

// TestDefaultConfigTimingsByProfile: DefaultConfig leaves the timings to
// the profile, so setting only Profile gives that profile's timings, and
// an explicit timing still wins.
func TestDefaultConfigTimingsByProfile(t *testing.T) {
	for _, tc := range []struct {
		profile             string
		rejoin, join, leave time.Duration
		override            time.Duration
	}{
		{profile: ProfileLAN, rejoin: 30 * time.Second, join: 3 * time.Second, leave: 3 * time.Second},
		{profile: ProfileWAN, rejoin: 60 * time.Second, join: 10 * time.Second, leave: 5 * time.Second},
		{profile: ProfileLocal, rejoin: 2 * time.Second, join: time.Second, leave: time.Second},
		{profile: ProfileWAN, rejoin: 7 * time.Second, join: 10 * time.Second, leave: 5 * time.Second, override: 7 * time.Second},
	} {
		cfg := DefaultConfig()
		if cfg.RejoinInterval != 0 || cfg.JoinTimeout != 0 || cfg.LeaveTimeout != 0 {
			t.Fatalf("DefaultConfig timings = %v %v %v; want zero (by profile)", cfg.RejoinInterval, cfg.JoinTimeout, cfg.LeaveTimeout)
		}
		cfg.Cluster, cfg.Bind, cfg.Profile = "t", "127.0.0.1:0", tc.profile
		cfg.Meta = Meta{Role: RoleProxy}
		cfg.RejoinInterval = tc.override
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := c.cfg
		c.Close()
		if got.RejoinInterval != tc.rejoin || got.JoinTimeout != tc.join || got.LeaveTimeout != tc.leave {
			t.Errorf("profile %s (rejoin set to %v): timings %v %v %v; want %v %v %v", tc.profile, tc.override,
				got.RejoinInterval, got.JoinTimeout, got.LeaveTimeout, tc.rejoin, tc.join, tc.leave)
		}
	}
}

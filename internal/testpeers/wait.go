package testpeers

import (
	"testing"
	"time"
)

// WaitUntil polls cond every 10 ms until it holds, and fails the test when
// d passes first. It returns how long cond took to hold.
func WaitUntil(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

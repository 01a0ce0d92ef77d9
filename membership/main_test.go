package membership

import (
	"flag"
	"os"
	"sync"
	"testing"

	"github.com/tether-proxy/tether/internal/testpeers"
)

var (
	// motoOnce starts moto_server at the first AWS test; moto is it (nil
	// until then or if it failed), motoURL its endpoint, motoErr why it
	// failed.
	motoOnce sync.Once
	moto     *testpeers.Moto
	motoURL  string
	motoErr  error
)

// TestMain stops the moto_server that the first AWS test started (so runs
// of other tests and fuzzers do not pay for it), by its PID.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if moto != nil {
		moto.Stop()
	}
	os.Exit(code)
}

// needMoto returns moto_server's endpoint (EC2, S3 and STS stand-ins on a
// free loopback port), starting it once. Under -short the test skips; else
// a moto_server that cannot start fails the test, so CI never silently
// skips the AWS integration tests.
func needMoto(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("AWS integration test: needs moto_server (skipped under -short)")
	}
	motoOnce.Do(func() {
		moto, motoErr = testpeers.StartMoto()
		if motoErr != nil {
			return
		}
		motoURL = moto.URL
		// The SDK's default chain must find these and nothing of the machine's.
		moto.AWSEnv(func(k, v string) { os.Setenv(k, v) })
	})
	if motoErr != nil {
		t.Fatalf("moto_server is required unless -short: %v", motoErr)
	}
	return motoURL
}

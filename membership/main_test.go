package membership

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	// motoOnce starts moto_server at the first AWS test; motoURL is its
	// endpoint, motoErr why it failed, motoStop stops it.
	motoOnce sync.Once
	motoURL  string
	motoErr  error
	motoStop = func() {}
)

// TestMain stops the moto_server that the first AWS test started (so runs
// of other tests and fuzzers do not pay for it), by its process group.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	motoStop()
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
		motoURL, motoStop, motoErr = startMoto()
		if motoErr != nil {
			motoStop = func() {}
			return
		}
		// The SDK's default chain must find these and nothing of the machine's.
		for k, v := range map[string]string{
			"AWS_ACCESS_KEY_ID":           "testing",
			"AWS_SECRET_ACCESS_KEY":       "testing",
			"AWS_SESSION_TOKEN":           "",
			"AWS_REGION":                  "us-east-1",
			"AWS_CONFIG_FILE":             "/nonexistent/tether-test",
			"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/tether-test",
			"AWS_EC2_METADATA_DISABLED":   "true",
			"AWS_PROFILE":                 "",
		} {
			os.Setenv(k, v)
		}
	})
	if motoErr != nil {
		t.Fatalf("moto_server is required unless -short: %v", motoErr)
	}
	return motoURL
}

func startMoto() (url string, stop func(), err error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	logf, err := os.CreateTemp("", "moto-*.log")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", port)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group: stop reaches every child
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pgid := cmd.Process.Pid
	stop = func() {
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
		os.Remove(logf.Name())
	}
	url = "http://127.0.0.1:" + port
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url, stop, nil
		}
		select {
		case err := <-exited:
			exited <- err
			out, _ := os.ReadFile(logf.Name())
			stop()
			return "", nil, fmt.Errorf("exited early (%v): %s", err, out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("no answer within 30s")
		}
	}
}

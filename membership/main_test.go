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
	"syscall"
	"testing"
	"time"
)

// motoURL is the endpoint of the moto_server TestMain started, "" under
// -short.
var motoURL string

// TestMain starts moto_server (EC2, S3 and STS stand-ins) on a free
// loopback port for the AWS discovery tests and stops it by process group
// afterwards. Under -short those tests skip; otherwise a moto_server that
// cannot start fails the run, so CI never silently skips them.
func TestMain(m *testing.M) {
	flag.Parse()
	stop := func() {}
	if !testing.Short() {
		var err error
		motoURL, stop, err = startMoto()
		if err != nil {
			fmt.Fprintf(os.Stderr, "moto_server is required unless -short: %v\n", err)
			os.Exit(1)
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
	}
	code := m.Run()
	stop()
	os.Exit(code)
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

func needMoto(t *testing.T) {
	t.Helper()
	if motoURL == "" {
		t.Skip("AWS integration test: needs moto_server (skipped under -short)")
	}
}

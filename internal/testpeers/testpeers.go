// Package testpeers starts the real peers Tether's integration tests talk
// to, all on 127.0.0.1: moto_server (S3 with conditional writes, DynamoDB,
// EC2), Pebble (Let's Encrypt's ACME test server) with pebble-challtestsrv
// as its DNS, and a pair of Tomcat 10 nodes (scripts/tomcat.sh, see
// tomcat.go). Each is a child process stopped by its own PID. Tests only;
// nothing in the product imports it.
package testpeers

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago (all are held open together, so none repeats).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Buffer is a goroutine-safe output sink for a child process.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// stop ends a child by its PID and reaps it.
func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Moto is a running moto_server, reached through a front that hands it
// one request at a time.
//
// moto checks a conditional write (If-None-Match: *, If-Match) and then
// writes, in two steps, on whichever of its threads the request runs: two
// concurrent conditional creates of one key can both succeed, which S3
// never allows (its conditional writes are atomic). Tether's certificate
// locks rely on that atomicity, so the tests reach moto through a front in
// the test process that serializes requests: moto then shows S3's
// semantics. moto holds Python's global lock anyway, so little speed is
// lost.
type Moto struct {
	// URL is the serializing front; use it as the AWS endpoint.
	URL string
	// Direct is moto_server itself, for tests that need the Host header
	// a client signed to reach moto unchanged (moto's signature checks,
	// /moto-api/reset-auth).
	Direct string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited and been reaped
	front  *http.Server
	Out    Buffer
}

// StartMoto starts moto_server on a free loopback port and its front on
// another, and waits until it answers.
//
// The port FreePort picks is free when picked, not reserved: by the time
// moto binds it, another test process (or this one's front) may hold it,
// and a test talking to that would reach someone else's moto. So StartMoto
// waits for moto's own "Running on" line for its port (moto exits when
// the port is taken) and tries another port if it does not come.
func StartMoto() (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server not on PATH: %w", err)
	}
	m := &Moto{}
	var port int
	for attempt := 1; ; attempt++ {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
		m.Out = Buffer{}
		m.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		m.cmd.Stdout, m.cmd.Stderr = &m.Out, &m.Out
		m.cmd.Env = motoEnv()
		if err := m.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
		m.exited = make(chan struct{})
		go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(m.cmd, m.exited)
		if err = waitRunning(&m.Out, m.exited, "Running on http://127.0.0.1:"+strconv.Itoa(port), 30*time.Second); err == nil {
			break
		}
		m.stopMoto()
		if attempt == 3 {
			return nil, fmt.Errorf("moto_server: %w\n%s", err, m.Out.String())
		}
	}
	backend := &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)}
	m.Direct = backend.String()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		m.Stop()
		return nil, err
	}
	var one sync.Mutex
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(backend) },
		// A fresh connection per request, so that no POST rides a
		// keep-alive connection moto has just closed (Go does not resend
		// a non-idempotent request; the test would see a 502).
		Transport: &http.Transport{DisableKeepAlives: true},
		ErrorLog:  log.New(&m.Out, "moto front: ", log.LstdFlags),
	}
	m.front = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		one.Lock()
		defer one.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = m.front.Serve(ln) }()
	m.URL = "http://" + ln.Addr().String()
	if err := waitHTTP(m.URL+"/moto-api/", nil, 30*time.Second); err != nil {
		m.Stop()
		return nil, fmt.Errorf("moto_server did not answer: %w\n%s", err, m.Out.String())
	}
	return m, nil
}

// motoEnv is the environment without AWS_ settings: a test that pointed
// the SDK at an earlier moto (AWSEnv sets AWS_PROFILE to "") must not
// break a later moto's own botocore.
func motoEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitRunning waits until out holds line (the child bound its port), the
// child exits (exited is closed), or d passes.
func waitRunning(out *Buffer, exited <-chan struct{}, line string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for !strings.Contains(out.String(), line) {
		select {
		case <-exited:
			return errors.New("exited before serving (its port taken?)")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %q within %v", line, d)
		}
	}
	return nil
}

// Stop ends moto_server and its front.
func (m *Moto) Stop() {
	if m.front != nil {
		_ = m.front.Close()
	}
	m.stopMoto()
}

// stopMoto ends moto_server by its PID: SIGINT, then SIGKILL after 5 s.
func (m *Moto) stopMoto() {
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// MotoMain is the TestMain of a package whose tests share one moto_server:
// unless -short it starts moto_server and stores it in *moto, runs the
// tests, stops moto_server and exits with the tests' code. Under -short
// *moto stays nil and the tests that need it skip.
//
// A moto_server that cannot start fails the run, so that CI never silently
// skips the tests; with optionalOutsideCI set, a moto_server missing from
// PATH while $CI is unset leaves *moto nil instead.
func MotoMain(m *testing.M, moto **Moto, optionalOutsideCI bool) {
	flag.Parse()
	if !testing.Short() {
		var err error
		*moto, err = StartMoto()
		if err != nil {
			if !(optionalOutsideCI && errors.Is(err, exec.ErrNotFound) && os.Getenv("CI") == "") {
				fmt.Fprintf(os.Stderr, "these tests need moto_server unless -short: %v\n", err)
				os.Exit(1)
			}
			*moto = nil
		}
	}
	code := m.Run()
	if *moto != nil {
		(*moto).Stop()
	}
	os.Exit(code)
}

// S3 returns a client for moto with static test credentials.
func (m *Moto) S3() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// DynamoDB returns a DynamoDB client for moto with static test credentials.
func (m *Moto) DynamoDB() *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// CreateBucket creates bucket name.
func (m *Moto) CreateBucket(ctx context.Context, name string) error {
	_, err := m.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name})
	return err
}

// AWSEnv sets the environment so that an SDK client built from the
// default chain talks to moto with test credentials, never a real account.
func (m *Moto) AWSEnv(setenv func(k, v string)) {
	setenv("AWS_ACCESS_KEY_ID", "test")
	setenv("AWS_SECRET_ACCESS_KEY", "test")
	setenv("AWS_SESSION_TOKEN", "")
	setenv("AWS_PROFILE", "")
	setenv("AWS_REGION", "us-east-1")
	setenv("AWS_CONFIG_FILE", "/nonexistent")
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func waitHTTP(url string, client *http.Client, d time.Duration) error {
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	deadline := time.Now().Add(d)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Pebble is a running Pebble ACME server with pebble-challtestsrv as its
// DNS (every name resolves to 127.0.0.1). It validates HTTP-01 on HTTPPort
// and TLS-ALPN-01 on TLSPort of 127.0.0.1, where the test puts Tether.
type Pebble struct {
	Dir        string // working directory: configs, listener certs
	DirURL     string // the ACME directory
	ListenerCA string // PEM file: the root of Pebble's own HTTPS (acme_ca_root)
	HTTPPort   int
	TLSPort    int
	mgmt       string
	cmd, chall *exec.Cmd
	Out        Buffer // Pebble's log
}

// PebbleOptions tunes a Pebble.
type PebbleOptions struct {
	HTTPPort, TLSPort int  // validation ports (0: free ports)
	AlwaysValid       bool // PEBBLE_VA_ALWAYS_VALID: skip validation
	// DNSServer, when set, is the DNS server (host:port) Pebble resolves
	// and validates DNS-01 with, instead of pebble-challtestsrv (which is
	// then not started): a Route53DNS, for DNS-01 through Route 53.
	DNSServer string
	// EABKeys, when set, makes Pebble require External Account Binding
	// with these key ids and their base64url MAC keys.
	EABKeys map[string]string
}

// StartPebble starts Pebble and its DNS in dir.
func StartPebble(dir string, o PebbleOptions) (*Pebble, error) {
	for _, b := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(b); err != nil {
			return nil, fmt.Errorf("%s not on PATH (Debian package pebble): %w", b, err)
		}
	}
	// Six distinct ports, held open together while chosen: picked one at
	// a time, two could be the same (the ACME listener and the DNS
	// server once were, and Pebble could not bind).
	ports, err := FreePorts(6)
	if err != nil {
		return nil, err
	}
	acmePort, mgmtPort, dnsPort, chMgmt := ports[0], ports[1], ports[2], ports[3]
	if o.HTTPPort == 0 {
		o.HTTPPort = ports[4]
	}
	if o.TLSPort == 0 {
		o.TLSPort = ports[5]
	}
	p := &Pebble{
		Dir:      dir,
		DirURL:   fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort),
		HTTPPort: o.HTTPPort,
		TLSPort:  o.TLSPort,
		mgmt:     fmt.Sprintf("https://127.0.0.1:%d", mgmtPort),
	}
	if err := p.writeListenerCert(); err != nil {
		return nil, err
	}
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":                    filepath.Join(dir, "pebble-cert.pem"),
		"privateKey":                     filepath.Join(dir, "pebble-key.pem"),
		"httpPort":                       o.HTTPPort,
		"tlsPort":                        o.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": len(o.EABKeys) > 0,
		"externalAccountMACKeys":         o.EABKeys,
	}}
	b, _ := json.Marshal(conf)
	cfgPath := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}
	dnsServer := o.DNSServer
	if dnsServer == "" {
		dnsServer = fmt.Sprintf("127.0.0.1:%d", dnsPort)
		p.chall = exec.Command("pebble-challtestsrv", "-http01", "", "-https01", "", "-tlsalpn01", "",
			"-dns01", dnsServer,
			"-management", fmt.Sprintf("127.0.0.1:%d", chMgmt), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
		p.chall.Stdout, p.chall.Stderr = io.Discard, io.Discard
		if err := p.chall.Start(); err != nil {
			return nil, fmt.Errorf("start pebble-challtestsrv: %w", err)
		}
	}
	p.cmd = exec.Command("pebble", "-config", cfgPath, "-dnsserver", dnsServer, "-strict=false")
	p.cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	if o.AlwaysValid {
		p.cmd.Env = append(p.cmd.Env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.Out, &p.Out
	if err := p.cmd.Start(); err != nil {
		p.Stop()
		return nil, fmt.Errorf("start pebble: %w", err)
	}
	if err := waitHTTP(p.DirURL, p.client(), 20*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("pebble did not answer: %w\n%s", err, p.Out.String())
	}
	return p, nil
}

// Stop ends Pebble and its DNS.
func (p *Pebble) Stop() {
	stop(p.cmd)
	stop(p.chall)
}

func (p *Pebble) client() *http.Client {
	pool := x509.NewCertPool()
	if b, err := os.ReadFile(p.ListenerCA); err == nil {
		pool.AppendCertsFromPEM(b)
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// Root returns the root that signs Pebble's issued certificates (new at
// every start), for verifying a served chain.
func (p *Pebble) Root() ([]byte, error) {
	resp, err := p.client().Get(p.mgmt + "/roots/0")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pebble roots: %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// Issued counts the certificates Pebble has issued, from its log.
func (p *Pebble) Issued() int {
	return strings.Count(p.Out.String(), "Issued certificate serial")
}

// writeListenerCert makes the CA and localhost certificate of Pebble's own
// HTTPS listener (the Debian package ships none).
func (p *Pebble) writeListenerCert() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble listener CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	p.ListenerCA = filepath.Join(p.Dir, "pebble-ca.pem")
	return errors.Join(
		os.WriteFile(p.ListenerCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600),
		os.WriteFile(filepath.Join(p.Dir, "pebble-cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600),
		os.WriteFile(filepath.Join(p.Dir, "pebble-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600),
	)
}

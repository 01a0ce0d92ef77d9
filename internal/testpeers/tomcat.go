package testpeers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TomcatNode is one running node of a TomcatPair, as scripts/tomcat.sh
// reported it ready.
type TomcatNode struct {
	Route     string // jvmRoute: tomcat1 or tomcat2
	AJP, HTTP string // host:port of its AJP/1.3 and HTTP connectors
	PID       int
}

// TomcatOptions configures a TomcatPair.
type TomcatOptions struct {
	// Root is the repository root: scripts/tomcat.sh and
	// proxy/ajp/testdata/webapp are found under it. "" means the nearest
	// directory holding go.mod, upward from the working directory (a
	// test's package directory).
	Root string
	// Secret is the AJP secret both connectors require. Required.
	Secret string
	// DirPrefix names the temporary directory (os.MkdirTemp pattern) that
	// holds both CATALINA_BASEs; "" means "tether-tomcat-".
	DirPrefix string
	// Watchdog starts a process, in its own process group so that ^C of
	// go test does not take it down first, that waits for this process to
	// exit and then stops the nodes (and any Apache that
	// scripts/apache-modjk.sh started in Dir/apache-*) by their recorded
	// PIDs and removes Dir. For test binaries whose TestMain cannot call
	// Stop.
	Watchdog bool
	// Log, if not nil, receives a line with the start time and the ready
	// lines each time Start starts a node.
	Log io.Writer
	// Nodes is how many nodes: 2 (0 means 2) or 3 (tomcat3 too, every
	// node replicating to the others; scripts/tomcat.sh TOMCAT_NODES).
	Nodes int
	// MaxThreads is both connectors' maxThreads; 0: Tomcat's default.
	MaxThreads int
}

// TomcatPair is two clustered Tomcat 10 nodes on 127.0.0.1 run by
// scripts/tomcat.sh: jvmRoute tomcat1/tomcat2, an AJP connector with a
// secret and an HTTP connector each, DeltaManager session replication, the
// lab webapp as /lab and proxy/ajp/testdata/webapp as /tether. All ports are
// picked free when the pair is made. Its methods are safe for concurrent
// use; one start or kill runs at a time.
type TomcatPair struct {
	// Dir is scripts/tomcat.sh's DIR: the nodes' bases, PID files and logs.
	// Other peers started for the pair (Apache) may live below it.
	Dir string
	// Root is the repository root the scripts run from.
	Root string
	// Env is the environment for scripts/tomcat.sh and
	// scripts/apache-modjk.sh: the process's own, plus AJP_SECRET,
	// TOMCAT_EXTRA_WEBAPPS and TC{1,2}_{HTTP,AJP,TRIBES}_PORT.
	Env []string
	log io.Writer

	n int // nodes: 2 or 3

	mu    sync.Mutex // held by Start and Kill: one script run at a time
	nodes map[string]TomcatNode
}

// NewTomcatPair prepares a pair (directory, ports, watchdog) without
// starting a node; Start starts them.
func NewTomcatPair(o TomcatOptions) (*TomcatPair, error) {
	if o.Secret == "" {
		return nil, errors.New("tomcat pair: Secret is required")
	}
	if o.Root == "" {
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		o.Root = root
	}
	if o.DirPrefix == "" {
		o.DirPrefix = "tether-tomcat-"
	}
	dir, err := os.MkdirTemp("", o.DirPrefix)
	if err != nil {
		return nil, err
	}
	if o.Watchdog {
		if err := startTomcatWatchdog(o.Root, dir); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("tomcat watchdog: %w", err)
		}
	}
	ports, err := FreePorts(6)
	if err != nil {
		return nil, err
	}
	n := o.Nodes
	if n == 0 {
		n = 2
	}
	if n != 2 && n != 3 {
		return nil, fmt.Errorf("tomcat nodes: %d (want 2 or 3)", n)
	}
	more, err := FreePorts(3 * (n - 2))
	if err != nil {
		return nil, err
	}
	ports = append(ports, more...)
	p := &TomcatPair{Dir: dir, Root: o.Root, log: o.Log, nodes: map[string]TomcatNode{}, n: n}
	p.Env = append(os.Environ(),
		"AJP_SECRET="+o.Secret,
		"TOMCAT_EXTRA_WEBAPPS=tether="+filepath.Join(o.Root, "proxy/ajp/testdata/webapp"),
		fmt.Sprintf("TC1_HTTP_PORT=%d", ports[0]), fmt.Sprintf("TC1_AJP_PORT=%d", ports[1]), fmt.Sprintf("TC1_TRIBES_PORT=%d", ports[2]),
		fmt.Sprintf("TC2_HTTP_PORT=%d", ports[3]), fmt.Sprintf("TC2_AJP_PORT=%d", ports[4]), fmt.Sprintf("TC2_TRIBES_PORT=%d", ports[5]),
		fmt.Sprintf("TOMCAT_NODES=%d", n),
	)
	if n == 3 {
		p.Env = append(p.Env, fmt.Sprintf("TC3_HTTP_PORT=%d", ports[6]), fmt.Sprintf("TC3_AJP_PORT=%d", ports[7]), fmt.Sprintf("TC3_TRIBES_PORT=%d", ports[8]))
	}
	if o.MaxThreads > 0 {
		p.Env = append(p.Env, fmt.Sprintf("TOMCAT_MAX_THREADS=%d", o.MaxThreads))
	}
	return p, nil
}

// StartTomcatPair prepares a pair and starts both nodes. If they do not
// both become ready, it stops what started and returns the script's output
// in the error.
func StartTomcatPair(o TomcatOptions) (*TomcatPair, error) {
	p, err := NewTomcatPair(o)
	if err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		if stopErr := p.Stop(); stopErr != nil {
			err = fmt.Errorf("%w\n%v", err, stopErr)
		}
		return nil, err
	}
	return p, nil
}

// moduleRoot returns the nearest directory holding go.mod, upward from the
// working directory.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod above %s", wd)
		}
	}
}

// ReadyFields parses the key=value fields of a ready line that a test
// script prints (scripts/tomcat.sh, scripts/apache-modjk.sh); fields
// without "=" are skipped.
func ReadyFields(line string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// startTomcatWatchdog starts the process that cleans up dir after this
// process exits.
func startTomcatWatchdog(root, dir string) error {
	script := `while kill -0 "$1" 2>/dev/null; do sleep 1; done
for a in "$3"/apache-*; do [ -d "$a" ] && bash "$2/scripts/apache-modjk.sh" stop "$a"; done
bash "$2/scripts/tomcat.sh" stop "$3" && rm -rf "$3"`
	cmd := exec.Command("bash", "-c", script, "tether-tomcat-watchdog", fmt.Sprint(os.Getpid()), root, dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(dir, "watchdog.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // reaped if it ever ends while we run
	return nil
}

// script runs scripts/tomcat.sh with the pair's settings.
func (p *TomcatPair) script(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(p.Root, "scripts/tomcat.sh")}, args...)...)
	cmd.Env = p.Env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// Nodes returns the nodes by route, as last reported ready.
func (p *TomcatPair) Nodes() map[string]TomcatNode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.nodes)
}

// Start starts whichever node is not running (both on first use, or one
// that Kill stopped) and waits until both are ready; it does nothing when
// both run. It blocks up to 5 minutes.
func (p *TomcatPair) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, _, err := p.script(ctx, "status", p.Dir)
	if err == nil && strings.Count(out, "running ") == p.n && len(p.nodes) == p.n {
		return nil
	}
	t0 := time.Now()
	out, errOut, err := p.script(ctx, "start", p.Dir)
	if err != nil {
		return fmt.Errorf("scripts/tomcat.sh start: %w\n%s%s", err, out, errOut)
	}
	for line := range strings.Lines(out) {
		rest, ok := strings.CutPrefix(line, "ready ")
		if !ok {
			continue
		}
		f := ReadyFields(rest)
		var pid int
		fmt.Sscan(f["pid"], &pid)
		p.nodes[f["route"]] = TomcatNode{Route: f["route"], AJP: f["ajp"], HTTP: f["http"], PID: pid}
	}
	if len(p.nodes) != p.n {
		return fmt.Errorf("scripts/tomcat.sh reported %d ready nodes; want %d:\n%s", len(p.nodes), p.n, out)
	}
	if p.log != nil {
		fmt.Fprintf(p.log, "tomcat nodes ready after %v: %s", time.Since(t0).Round(time.Millisecond), out)
	}
	return nil
}

// Kill stops the node with the given route with SIGKILL, as a crash would.
// Start brings it back.
func (p *TomcatPair) Kill(ctx context.Context, route string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if out, errOut, err := p.script(ctx, "stop", p.Dir, "-9", route); err != nil {
		return fmt.Errorf("scripts/tomcat.sh stop -9 %s: %w\n%s%s", route, err, out, errOut)
	}
	return nil
}

// Stop stops both nodes by their recorded PIDs and removes Dir. If the
// script fails, Dir stays: its logs and PID files explain what is left.
func (p *TomcatPair) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	out, errOut, err := p.script(context.Background(), "stop", p.Dir)
	if err != nil {
		return fmt.Errorf("scripts/tomcat.sh stop: %w\n%s%s", err, out, errOut)
	}
	return os.RemoveAll(p.Dir)
}

package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// This file drives a headless Chromium through the DevTools protocol with
// a minimal client: an RFC 6455 WebSocket (text frames, client masking,
// fragmented replies) and CDP's id-matched JSON commands. Standard library
// only, so the test adds no module dependency.

// browser is a headless Chromium the test started.
type browser struct {
	cmd  *exec.Cmd
	port int
	done chan struct{}
}

// startChromium launches Chromium with remote debugging on a free port of
// 127.0.0.1 and a fresh profile. It fails the test when Chromium is not
// installed (Debian package chromium; scripts/deps.sh installs it).
func startChromium(t *testing.T) *browser {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("chromium not found (Debian package chromium; run scripts/deps.sh)")
	}
	profile := t.TempDir()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+profile,
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1600,1000", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers are stopped with it
	logs := &testpeers.Buffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		pid := cmd.Process.Pid
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL) // the group this test created for it
			<-b.done
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL) // helpers left behind, if any
		if t.Failed() {
			t.Logf("chromium logs:\n%s", logs.String())
		}
	})
	// Chromium writes the port it bound to DevToolsActivePort in the profile.
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		if err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])); err == nil && p > 0 {
				b.port = p
				return b
			}
		}
		select {
		case <-b.done:
			t.Fatalf("chromium exited: %v\n%s", cmd.ProcessState, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium wrote no DevToolsActivePort in 60s\n%s", logs.String())
		}
	}
}

// page opens the browser's first page target.
func (b *browser) page(t *testing.T) *cdp {
	t.Helper()
	var targets []struct {
		Type, URL            string
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/json/list", b.port))
	if err != nil {
		t.Fatalf("devtools targets: %v", err)
	}
	err = json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("devtools targets: %v", err)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			c, err := dialCDP(tg.WebSocketDebuggerURL)
			if err != nil {
				t.Fatalf("devtools websocket: %v", err)
			}
			t.Cleanup(func() { c.conn.Close() })
			return c
		}
	}
	t.Fatalf("no page target among %+v", targets)
	return nil
}

// cdp is one DevTools session over a WebSocket.
type cdp struct {
	conn net.Conn
	r    *bufio.Reader
	next int
}

func dialCDP(raw string) (*cdp, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	rand.Read(key)
	k := base64.StdEncoding.EncodeToString(key)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", u.RequestURI(), u.Host, k)
	r := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: %s", resp.Status)
	}
	return &cdp{conn: conn, r: r}, nil
}

// writeText sends one masked text frame (clients must mask, RFC 6455 5.3).
func (c *cdp) writeText(p []byte) error {
	hdr := []byte{0x81}
	switch n := len(p); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	hdr = append(hdr, mask...)
	body := make([]byte, len(p))
	for i := range p {
		body[i] = p[i] ^ mask[i%4]
	}
	_, err := c.conn.Write(append(hdr, body...))
	return err
}

// readMessage returns the next whole text message, joining fragments and
// answering pings.
func (c *cdp) readMessage() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return nil, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if h[1]&0x80 != 0 {
			return nil, errors.New("websocket: masked frame from the server")
		}
		if n > 64<<20 {
			return nil, fmt.Errorf("websocket: %d-byte frame", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.r, p); err != nil {
			return nil, err
		}
		switch op {
		case 0x8:
			return nil, errors.New("websocket: closed by the browser")
		case 0x9: // ping: answer with a masked pong carrying the same data
			mask := []byte{0, 0, 0, 0}
			_, _ = c.conn.Write(append([]byte{0x8a, 0x80 | byte(len(p))}, append(mask, p...)...))
			continue
		case 0xa:
			continue
		}
		msg = append(msg, p...)
		if fin {
			return msg, nil
		}
	}
}

// call sends a CDP command and waits for its answer, skipping events.
func (c *cdp) call(method string, params any, result any) error {
	c.next++
	id := c.next
	req, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := c.writeText(req); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	for {
		data, err := c.readMessage()
		if err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		var m struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		if m.ID != id {
			continue // an event, or an answer to nothing we wait for
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %d %s", method, m.Error.Code, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	}
}

// eval runs a JavaScript expression in the page and decodes its value
// (which must be JSON-serializable) into out.
func (c *cdp) eval(expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("evaluate %q: %s", expr, r.ExceptionDetails.Text)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// navigate loads url and waits for the document to finish loading.
func (c *cdp) navigate(t *testing.T, url string) {
	t.Helper()
	if err := c.call("Page.navigate", map[string]any{"url": url}, nil); err != nil {
		t.Fatal(err)
	}
	c.waitJS(t, 20*time.Second, "page loaded: "+url, `document.readyState === "complete" && location.href === `+strconv.Quote(url))
}

// waitJS polls a boolean JavaScript expression.
func (c *cdp) waitJS(t *testing.T, d time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		err := c.eval(expr, &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last error: %v)", d, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// click presses and releases the left mouse button in the middle of the
// element selector matches, as a user's click would (mouse events, not
// element.click()).
func (c *cdp) click(t *testing.T, selector string) {
	t.Helper()
	var box struct{ X, Y, W, H float64 }
	expr := fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height}; })()`, strconv.Quote(selector))
	if err := c.eval(expr, &box); err != nil {
		t.Fatalf("find %s: %v", selector, err)
	}
	x, y := box.X+box.W/2, box.Y+box.H/2
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		p := map[string]any{"type": typ, "x": x, "y": y}
		if typ != "mouseMoved" {
			p["button"], p["clickCount"] = "left", 1
		}
		if err := c.call("Input.dispatchMouseEvent", p, nil); err != nil {
			t.Fatalf("click %s: %v", selector, err)
		}
	}
}

// screenshot captures the whole page as PNG.
func (c *cdp) screenshot(t *testing.T) []byte {
	t.Helper()
	var size struct{ W, H float64 }
	if err := c.eval(`({W: 1600, H: document.documentElement.scrollHeight})`, &size); err != nil {
		t.Fatal(err)
	}
	if err := c.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": int(size.W), "height": int(size.H), "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		t.Fatal(err)
	}
	var r struct{ Data string }
	if err := c.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &r); err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	return png
}

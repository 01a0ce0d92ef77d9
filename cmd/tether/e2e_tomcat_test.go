package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// Issue 4 acceptance, Tether side: Tether in front of two real Tomcat 10
// nodes over AJP13 with the connector secret and DeltaManager session
// replication (scripts/tomcat.sh).

// other returns the other node's route.
func other(route string) string {
	if route == "tomcat1" {
		return "tomcat2"
	}
	return "tomcat1"
}

// newSessionOn starts sessions through base until one lands on route.
func newSessionOn(t *testing.T, base, route string) *labSession {
	t.Helper()
	for range 10 {
		s := &labSession{base: base}
		if r := s.get(t, false); r.status != 200 {
			t.Fatalf("new session: status %d: %s", r.status, r.body)
		}
		if s.last.node() == route {
			return s
		}
	}
	t.Fatalf("10 new sessions through %s, none on %s", base, route)
	return nil
}

// wantSession checks one answer of session.jsp.
func wantSession(t *testing.T, what string, r labResp, node string, counter int) {
	t.Helper()
	if r.status != 200 || r.node() != node || r.kv["counter"] != strconv.Itoa(counter) {
		t.Fatalf("%s: status %d, node=%s counter=%s session=%s; want 200, node=%s counter=%d",
			what, r.status, r.node(), r.kv["counter"], r.kv["session"], node, counter)
	}
}

func TestTomcatThroughTether(t *testing.T) {
	nodes := needTomcat(t)
	addr, ready, logs := startTetherLogged(t, tomcatConfig(nodes, tomcatSecret, ""))
	base := "http://" + addr
	forcedAddr, _, _ := startTetherLogged(t, tomcatConfig(nodes, tomcatSecret, "\t\tsticky_force on"))
	forced := "http://" + forcedAddr

	setState := func(t *testing.T, member, state string) {
		t.Helper()
		setMemberState(t, ready.Admin, "app", member, state)
		t.Logf("admin API: %s is %s", member, state)
	}

	t.Run("new sessions go to both nodes", func(t *testing.T) {
		seen := map[string]int{}
		for range 6 {
			s := &labSession{base: base}
			r := s.get(t, false)
			wantSession(t, "new session", r, r.node(), 1)
			if !strings.HasSuffix(s.id, "."+r.node()) {
				t.Fatalf("new session on %s has id %q; want the jvmRoute suffix .%s", r.node(), s.id, r.node())
			}
			seen[r.node()]++
		}
		t.Logf("6 new sessions: %v", seen)
		if seen["tomcat1"] == 0 || seen["tomcat2"] == 0 {
			t.Fatalf("6 new sessions went to %v; want both nodes", seen)
		}
	})

	t.Run("sticky by cookie and by jsessionid path parameter", func(t *testing.T) {
		for _, route := range []string{"tomcat1", "tomcat2"} {
			s := newSessionOn(t, base, route)
			for i := 2; i <= 6; i++ {
				wantSession(t, "by cookie", s.get(t, false), route, i)
			}
			for i := 7; i <= 10; i++ {
				r := s.get(t, true)
				wantSession(t, "by ;jsessionid=", r, route, i)
				if r.kv["fromURL"] != "true" {
					t.Fatalf("Tomcat saw the session id from the URL: %s; want true", r.kv["fromURL"])
				}
			}
			t.Logf("session %s: 10 requests (5 by cookie, 4 by ;jsessionid=) all on %s, counter 10", s.id, route)
		}
	})

	t.Run("disabled member keeps its sessions, gets no new ones; stopped gets nothing", func(t *testing.T) {
		s1 := newSessionOn(t, base, "tomcat1")
		s2 := newSessionOn(t, base, "tomcat2")
		setState(t, "tomcat1", "disabled")
		t.Cleanup(func() { setState(t, "tomcat1", "active") })
		for i := range 20 {
			s := &labSession{base: base}
			if r := s.get(t, false); r.node() != "tomcat2" {
				t.Fatalf("new session %d with tomcat1 disabled went to %q; want tomcat2", i, r.node())
			}
		}
		wantSession(t, "tomcat1's session, tomcat1 disabled", s1.get(t, false), "tomcat1", 2)
		wantSession(t, "tomcat1's session by path, tomcat1 disabled", s1.get(t, true), "tomcat1", 3)
		wantSession(t, "tomcat2's session, tomcat1 disabled", s2.get(t, false), "tomcat2", 2)
		t.Log("disabled tomcat1: 20 new sessions on tomcat2, its own session still on tomcat1")

		setState(t, "tomcat1", "stopped")
		old := s1.id
		r := s1.get(t, false)
		wantSession(t, "tomcat1's session, tomcat1 stopped", r, "tomcat2", 4) // replicated counter
		if !strings.HasSuffix(s1.id, ".tomcat2") || r.kv["jvmRouteBinderOriginalId"] != old {
			t.Fatalf("after failover the session id is %q (original %q); want Tomcat's rename to .tomcat2 of %q", s1.id, r.kv["jvmRouteBinderOriginalId"], old)
		}
		wantSession(t, "renamed session", s1.get(t, true), "tomcat2", 5)
		for i := range 20 {
			s := &labSession{base: base}
			if r := s.get(t, false); r.node() != "tomcat2" {
				t.Fatalf("new session %d with tomcat1 stopped went to %q; want tomcat2", i, r.node())
			}
		}
		if r := labGet(t, base+"/lab/info.jsp", "ABC.tomcat1"); r.status != 200 || r.node() != "tomcat2" {
			t.Fatalf("request with route tomcat1, tomcat1 stopped: %d from %q; want 200 from tomcat2", r.status, r.node())
		}
		t.Logf("stopped tomcat1: its session %s moved to tomcat2 as %s with counter 4, 20 new sessions on tomcat2", old, s1.id)
	})

	t.Run("10 MiB POST body arrives intact", func(t *testing.T) {
		body := make([]byte, 10<<20)
		rand.Read(body)
		sum := sha256.Sum256(body)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/lab/echo.jsp", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/octet-stream")
		r := labDo(t, req)
		if r.status != 200 || r.kv["bodyBytes"] != strconv.Itoa(len(body)) || r.kv["bodySha256"] != hex.EncodeToString(sum[:]) {
			t.Fatalf("POST 10 MiB: status %d, bodyBytes=%s sha256=%s; want 200, %d, %x", r.status, r.kv["bodyBytes"], r.kv["bodySha256"], len(body), sum)
		}
		t.Logf("POST 10 MiB: Tomcat (%s) read %s bytes, SHA-256 %s (matches)", r.node(), r.kv["bodyBytes"], r.kv["bodySha256"])
	})

	t.Run("chunked request body arrives intact", func(t *testing.T) {
		body := make([]byte, 3<<20+12345)
		rand.Read(body)
		sum := sha256.Sum256(body)
		// A reader of unknown length: net/http sends it chunked.
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/lab/echo.jsp", io.MultiReader(bytes.NewReader(body)))
		req.Header.Set("Content-Type", "application/octet-stream")
		if req.ContentLength != 0 && req.ContentLength != -1 {
			t.Fatalf("request ContentLength %d; want unknown", req.ContentLength)
		}
		r := labDo(t, req)
		if r.status != 200 || r.kv["bodyBytes"] != strconv.Itoa(len(body)) || r.kv["bodySha256"] != hex.EncodeToString(sum[:]) {
			t.Fatalf("chunked POST: status %d, bodyBytes=%s sha256=%s contentLength=%s; want 200, %d, %x",
				r.status, r.kv["bodyBytes"], r.kv["bodySha256"], r.kv["contentLength"], len(body), sum)
		}
		t.Logf("chunked POST %d bytes: Tomcat saw contentLength=%s, read %s bytes, SHA-256 matches", len(body), r.kv["contentLength"], r.kv["bodyBytes"])
	})

	t.Run("streamed response arrives progressively", func(t *testing.T) {
		// drip.jsp: 5 lines, flushed, 400 ms apart.
		start := time.Now()
		resp, err := client.Get(base + "/tether/drip.jsp?n=5&ms=400")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var at []time.Duration
		for {
			line, err := br.ReadString('\n')
			if strings.HasPrefix(line, "line=") {
				at = append(at, time.Since(start))
			}
			if err != nil {
				break
			}
		}
		t.Logf("drip.jsp lines arrived at %v", at)
		if len(at) != 5 || at[4]-at[0] < 1200*time.Millisecond || at[0] > at[4]/2 {
			t.Fatalf("drip.jsp lines arrived at %v; want 5 lines, the first long before the last (1.6 s apart)", at)
		}

		// stream.jsp: 8 MiB without Content-Length, flushed every 16 KiB
		// (compiled first: the first request of a JSP compiles it).
		if r := labGet(t, base+"/lab/stream.jsp?kb=1", ""); r.status != 200 {
			t.Fatalf("stream.jsp?kb=1: status %d", r.status)
		}
		start = time.Now()
		resp2, err := client.Get(base + "/lab/stream.jsp?kb=8192")
		if err != nil {
			t.Fatal(err)
		}
		defer resp2.Body.Close()
		first := make([]byte, 1)
		if _, err := io.ReadFull(resp2.Body, first); err != nil {
			t.Fatal(err)
		}
		ttfb := time.Since(start)
		n, err := io.Copy(io.Discard, resp2.Body)
		total := time.Since(start)
		// 8192 lines of 1 KiB, and the newline after the JSP's closing tag
		if err != nil || n+1 != 8192*1024+1 || resp2.ContentLength != -1 {
			t.Fatalf("stream.jsp?kb=8192: %d bytes, Content-Length %d, err %v; want %d bytes streamed without Content-Length", n+1, resp2.ContentLength, err, 8192*1024+1)
		}
		t.Logf("stream.jsp?kb=8192: first byte after %v, all %d bytes after %v (Transfer-Encoding %v)", ttfb, n+1, total, resp2.TransferEncoding)
		if ttfb > total/2 {
			t.Errorf("stream.jsp: first byte after %v of %v; want it well before the end", ttfb, total)
		}
	})

	t.Run("X-Forwarded-Proto https from a trusted proxy makes the request secure", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/lab/echo.jsp", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		r := labDo(t, req)
		if r.kv["secure"] != "true" || r.kv["scheme"] != "https" || r.kv["remoteAddr"] != "203.0.113.7" {
			t.Fatalf("echo.jsp behind a trusted proxy: secure=%s scheme=%s remoteAddr=%s; want true, https, 203.0.113.7", r.kv["secure"], r.kv["scheme"], r.kv["remoteAddr"])
		}
		plain := labGet(t, base+"/lab/echo.jsp", "")
		if plain.kv["secure"] != "false" || plain.kv["scheme"] != "http" {
			t.Fatalf("echo.jsp without X-Forwarded-Proto: secure=%s scheme=%s; want false, http", plain.kv["secure"], plain.kv["scheme"])
		}
		t.Logf("X-Forwarded-Proto: https → secure=%s scheme=%s serverPort=%s remoteAddr=%s; without → secure=%s", r.kv["secure"], r.kv["scheme"], r.kv["serverPort"], r.kv["remoteAddr"], plain.kv["secure"])
	})

	t.Run("oversized request headers answer 413 with one log line", func(t *testing.T) {
		before := len(logLines(logs, "413"))
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/lab/echo.jsp", nil)
		req.Header.Set("X-Big-1", strings.Repeat("a", 6000))
		req.Header.Set("X-Big-2", strings.Repeat("b", 6000))
		r := labDo(t, req)
		if r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("12 KB of request headers: status %d; want 413", r.status)
		}
		var got []string
		testpeers.WaitUntil(t, 5*time.Second, "the 413 log line", func() bool {
			got = logLines(logs, "413")
			return len(got) > before
		})
		got = got[before:]
		if len(got) != 1 || !strings.Contains(got[0], "too large") {
			t.Fatalf("log lines about the 413: %q; want one naming the cause (headers too large for one AJP packet)", got)
		}
		t.Logf("12 KB of headers → %d; log: %s", r.status, got[0])
		// the client's fault: no member was taken out for it
		if down := logLines(logs, "member down"); len(down) > 0 {
			t.Fatalf("after the 413: %q; want no member down", down)
		}
		for i := range 4 {
			if r := labGet(t, base+"/lab/info.jsp", ""); r.status != 200 {
				t.Fatalf("request %d after the 413: status %d; want 200", i, r.status)
			}
		}
	})

	t.Run("kill -9 of the owner: failover with the session intact, sticky_force 503", func(t *testing.T) {
		s := &labSession{base: base}
		r := s.get(t, false)
		owner, survivor := r.node(), other(r.node())
		wantSession(t, "new session", r, owner, 1)
		wantSession(t, "by cookie", s.get(t, false), owner, 2)
		wantSession(t, "by path", s.get(t, true), owner, 3)
		// the sticky_force proxy routes the same session to the same node
		if r := labGet(t, forced+"/lab/info.jsp", s.id); r.status != 200 || r.node() != owner {
			t.Fatalf("sticky_force proxy before the kill: %d from %q; want 200 from %s", r.status, r.node(), owner)
		}

		killTomcat(t, owner)
		t.Cleanup(func() { restartTomcat(t) })
		t.Logf("killed %s (kill -9) holding session %s (counter 3)", owner, s.id)

		if r := labGet(t, forced+"/lab/session.jsp", s.id); r.status != http.StatusServiceUnavailable {
			t.Fatalf("sticky_force on, owner dead: status %d from %q; want 503", r.status, r.node())
		}
		t.Log("sticky_force on: 503")

		old := s.id
		t0 := time.Now()
		r = s.get(t, false)
		took := time.Since(t0)
		wantSession(t, "first request after the kill", r, survivor, 4)
		if r.kv["jvmRouteBinderOriginalId"] != old || !strings.HasSuffix(s.id, "."+survivor) {
			t.Fatalf("after failover: Set-Cookie JSESSIONID=%q, original id %q; want Tomcat's rename of %q to .%s", r.setCookie, r.kv["jvmRouteBinderOriginalId"], old, survivor)
		}
		t.Logf("first request after the kill: %s answered in %v with counter 4, session renamed %s → %s", survivor, took.Round(time.Millisecond), old, s.id)
		for i := 5; i <= 8; i++ {
			wantSession(t, "later request", s.get(t, i%2 == 0), survivor, i)
		}
		t.Logf("4 later requests (cookie and path) stick to %s, counter 8", survivor)
	})

	t.Run("the killed node is used again after its restart", func(t *testing.T) {
		restartTomcat(t)
		seen := map[string]bool{}
		testpeers.WaitUntil(t, 20*time.Second, "new sessions on both nodes", func() bool {
			s := &labSession{base: base}
			if r := s.get(t, false); r.status == 200 {
				seen[r.node()] = true
			}
			return seen["tomcat1"] && seen["tomcat2"]
		})
	})
}

func TestTomcatWrongSecret(t *testing.T) {
	nodes := needTomcat(t)
	addr, _, logs := startTetherLogged(t, tomcatConfig(nodes, "not-the-secret", ""))
	for i := range 2 {
		t0 := time.Now()
		r := labGet(t, "http://"+addr+"/lab/info.jsp", "")
		took := time.Since(t0)
		t.Logf("wrong ajp_secret, request %d: status %d after %v", i, r.status, took.Round(time.Millisecond))
		if took > 5*time.Second {
			t.Fatalf("wrong secret: answer after %v; want no hang", took)
		}
		if r.status != http.StatusBadGateway && r.status != http.StatusServiceUnavailable {
			t.Fatalf("wrong secret: status %d; want 502 or 503", r.status)
		}
	}
	got := logLines(logs, "secret")
	if len(got) == 0 {
		t.Fatalf("no log line names the secret as the cause; log:\n%s", logs.String())
	}
	t.Logf("log: %s", got[0])
}

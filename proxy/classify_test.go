package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-proxy/tether/internal/testpeers"
)

func TestClientBodyFaultsSpareMembers(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	// max_fails 1: a single failure counted against a member takes it out.
	s, site := startProxy(t, oneBalancer("a=http://"+a.hostport()+" b=http://"+b.hostport(), "\t\tmax_fails 1"), nil)
	addr := hostportOf(site)
	chunked := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tc := range []struct{ name, body string }{
		{"chunk size zz", "zz\r\nhello\r\n0\r\n\r\n"},
		{"chunk size -3", "-3\r\nabc\r\n0\r\n\r\n"},
		{"chunk size 0x3", "0x3\r\nabc\r\n0\r\n\r\n"},
		{"chunk size with a space", " 3\r\nabc\r\n0\r\n\r\n"},
		{"chunk size overflow", "1ffffffffffffffff\r\nabc\r\n0\r\n\r\n"},
		{"bare LF chunk line", "3\nabc\r\n0\r\n\r\n"},
		{"chunk data without CRLF", "3\r\nabcX0\r\n\r\n"},
		{"chunk extension over 4 KB", "3;" + strings.Repeat("e", 5000) + "\r\nabc\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawExchange(t, addr, chunked+tc.body, 2*time.Second)
			if got := statusLine(resp); got != "HTTP/1.1 400 Bad Request" {
				t.Errorf("status line %q; want HTTP/1.1 400 Bad Request", got)
			}
			checkMembersUntouched(t, s, tc.name)
		})
	}
	t.Run("client gone mid-body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
		time.Sleep(100 * time.Millisecond) // let the proxy start the exchange with a member
		c.Close()
		testpeers.WaitUntil(t, 5*time.Second, "no request in flight", func() bool {
			for _, m := range s.Status().Balancers[0].Members {
				if m.InFlight != 0 {
					return false
				}
			}
			return true
		})
		checkMembersUntouched(t, s, "client gone mid-body")
	})
	// And the balancer still serves everyone, from both members.
	seen := map[string]bool{}
	for range 4 {
		resp, _ := testpeers.Get(t, site+"/", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("well-behaved request after the faults: status %d", resp.StatusCode)
		}
		seen[resp.Header.Get("X-Route")] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("well-behaved requests reached %v; want both members", seen)
	}
}

func TestHalfClosedClientGetsTheAnswer(t *testing.T) {
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond) // answer after the client shut its side
		io.WriteString(w, "the real answer\n")
	})
	_, site := startProxy(t, oneBalancer("app=http://"+app.hostport(), ""), nil)
	for i := range 5 {
		c, err := net.Dial("tcp", hostportOf(site))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.(*net.TCPConn).CloseWrite()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			t.Fatalf("try %d: no answer after half-close: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "the real answer\n" {
			t.Fatalf("try %d: %d %q; want the member's 200 with its body", i, resp.StatusCode, body)
		}
	}
}

func TestPassiveHealthTakesOutAtMostHalf(t *testing.T) {
	var dead []string
	for range 4 {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		dead = append(dead, ln.Addr().String())
		ln.Close()
	}
	members := fmt.Sprintf("d0=http://%s d1=http://%s d2=http://%s d3=http://%s", dead[0], dead[1], dead[2], dead[3])
	s, site := startProxy(t, oneBalancer(members, "\t\tmax_fails 1\n\t\tretries 3"), nil)
	for range 8 {
		testpeers.Get(t, site+"/", nil)
	}
	out := 0
	for _, m := range s.Status().Balancers[0].Members {
		if !m.Healthy {
			out++
		}
	}
	if out != 2 {
		t.Errorf("%d of 4 failing members out; want 2 (passive health takes out at most half)", out)
	}
}

func TestGRPCToHTTP1MembersRefused(t *testing.T) {
	app := newBackend(t, "app", nil)
	s, site := startProxy(t, oneBalancer("app=http://"+app.hostport(), "\t\tmax_fails 1"), nil)
	req, _ := http.NewRequest(http.MethodPost, site+"/grpc.health.v1.Health/Check", strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Grpc-Status") != "12" || !strings.Contains(resp.Header.Get("Grpc-Message"), "HTTP/2") {
		t.Errorf("gRPC call to HTTP/1.1 members: %d grpc-status %q message %q; want 400 with grpc-status 12 naming HTTP/2",
			resp.StatusCode, resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message"))
	}
	if app.hits.Load() != 0 {
		t.Errorf("the member got %d requests; want none", app.hits.Load())
	}
	checkMembersUntouched(t, s, "gRPC call")
}

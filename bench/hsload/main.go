// Command hsload is the load generator of the benchmark's handshake
// scenario: every request on a new TCP connection with a full TLS handshake.
//
// ab does the same but is single-threaded C on OpenSSL 3.0 (whose
// per-connection overhead is large) and became the bottleneck: neither
// proxy filled its core. hsload does one full handshake per connection with
// less client CPU, so that the proxy, not the client, sets the rate:
//
//   - no ClientSessionCache, so no resumption: every handshake is full,
//     whatever tickets the server sends;
//   - TLS 1.3 (1.2 when the server is limited to it), X25519 key exchange
//     only (what ab's OpenSSL offers; Go would otherwise offer the hybrid
//     X25519MLKEM768, which OpenSSL 3.0 servers lack), ALPN http/1.1;
//   - the server's chain is not verified (as ab), but its handshake
//     signature is, as in every TLS client;
//   - TCP_NODELAY (Go's default), so no Nagle/delayed-ACK stall;
//   - one HTTP/1.1 GET with Connection: close, read to the end of its body.
//
// At the end it prints one line for bench/run.sh:
//
//	HSLOAD requests duration_s errors p50_ms p99_ms
//
// where latency is connect + handshake + request + response of a connection
// and errors counts failed connections and non-2xx answers; then, as a
// check, what the connections negotiated and how many were resumed (always
// 0: this client keeps no sessions):
//
//	HSLOAD-TLS TLS1.3 X25519 http/1.1 resumed=0
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	conns := flag.Int("c", 32, "connections in flight")
	dur := flag.Duration("d", 10*time.Second, "how long to run")
	timeout := flag.Duration("timeout", 5*time.Second, "per-connection timeout")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the client here")
	var headers headerList
	flag.Var(&headers, "H", "request header `Name: value` (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: hsload [-c N] [-d 10s] [-H 'Name: value'] https://host:port/path")
	}
	u, err := url.Parse(flag.Arg(0))
	if err != nil || u.Scheme != "https" {
		log.Fatalf("hsload: want an https:// URL, got %q", flag.Arg(0))
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	req := request(u, headers)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	cfg := &tls.Config{
		ServerName:         u.Hostname(),
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
		CurvePreferences:   []tls.CurveID{tls.X25519},
		NextProtos:         []string{"http/1.1"},
	}

	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var (
		wg     sync.WaitGroup
		errs   atomic.Int64
		mu     sync.Mutex
		lat    []time.Duration
		start  = time.Now()
		dialer = &net.Dialer{Timeout: *timeout}
		st     tlsStats
	)
	for range *conns {
		wg.Go(func() {
			var mine []time.Duration
			br := bufio.NewReaderSize(nil, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := once(dialer, addr, cfg, req, br, *timeout, &st); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	fmt.Printf("HSLOAD %d %.6f %d %.3f %.3f\n", len(lat), elapsed.Seconds(), errs.Load(),
		ms(pct(lat, 0.50)), ms(pct(lat, 0.99)))
	fmt.Println(st.String())
	if len(lat) == 0 {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// once makes one connection: dial, full handshake, one request, the whole
// answer, close.
func once(d *net.Dialer, addr string, cfg *tls.Config, req []byte, br *bufio.Reader, timeout time.Duration, st *tlsStats) error {
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(timeout))
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return err
	}
	st.record(c.ConnectionState())
	if _, err := c.Write(req); err != nil {
		return err
	}
	br.Reset(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func request(u *url.URL, headers headerList) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), u.Host)
	for _, h := range headers {
		fmt.Fprintf(&b, "%s\r\n", h)
	}
	b.WriteString("Connection: close\r\n\r\n")
	return []byte(b.String())
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// tlsStats keeps what the first handshake negotiated and counts resumed
// ones.
type tlsStats struct {
	once    sync.Once
	first   tls.ConnectionState
	resumed atomic.Int64
}

func (s *tlsStats) record(cs tls.ConnectionState) {
	s.once.Do(func() { s.first = cs })
	if cs.DidResume {
		s.resumed.Add(1)
	}
}

func (s *tlsStats) String() string {
	return fmt.Sprintf("HSLOAD-TLS %s %s %s resumed=%d", strings.ReplaceAll(tls.VersionName(s.first.Version), " ", ""),
		s.first.CurveID, s.first.NegotiatedProtocol, s.resumed.Load())
}

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

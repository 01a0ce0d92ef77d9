package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestDrainBehindLoadBalancer plays an ELB target group in front of two
// proxies: it health-checks /healthz and sends requests only to targets
// that pass. One proxy gets SIGTERM under load; with drain_delay longer
// than the health-check interval, no request may fail.
func TestDrainBehindLoadBalancer(t *testing.T) {
	needBinaries(t)
	bs := map[string]*proc{"tomcat1": startBackend(t, "tomcat1"), "tomcat2": startBackend(t, "tomcat2")}
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:0
	drain_delay 1s
	shutdown_timeout 5s
	log {
		level warn
	}
}

http://127.0.0.1:0 {
	reverse_proxy {
		name app
		to %s
	}
}
`, toArgs(bs))
	pa, ra := startTether(t, cfg)
	pb, rb := startTether(t, cfg) // the proxy that stays
	targets := []struct {
		site, health string
		p            *proc
	}{{"http://" + pa.addr, "http://" + ra.Admin + "/healthz", pa}, {"http://" + pb.addr, "http://" + rb.Admin + "/healthz", pb}}

	var healthy [2]atomic.Bool
	healthy[0].Store(true)
	healthy[1].Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	// health checker: every 200 ms, as a target group with a short interval
	// and a threshold of one.
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			for i, tg := range targets {
				resp, err := client.Get(tg.health)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					resp.Body.Close()
				}
				healthy[i].Store(ok)
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	})
	var sent, failed, toDraining atomic.Int64
	var termSent atomic.Bool
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := rand.IntN(2)
				if !healthy[i].Load() {
					i = 1 - i
				}
				if !healthy[i].Load() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				code, _, err := get(ctx, targets[i].site+"/", "")
				if ctx.Err() != nil {
					return
				}
				sent.Add(1)
				if termSent.Load() && i == 0 {
					toDraining.Add(1)
				}
				if err != nil || code != 200 {
					failed.Add(1)
					t.Logf("request to proxy %d failed: %d %v", i, code, err)
				}
			}
		})
	}
	time.Sleep(time.Second)
	termSent.Store(true)
	if err := pa.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pa.done:
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not exit within 10s of SIGTERM")
	}
	if code := pa.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("drained proxy exit code %d; want 0", code)
	}
	wg.Wait()
	t.Logf("%d requests, %d failed, %d sent to the draining proxy after SIGTERM", sent.Load(), failed.Load(), toDraining.Load())
	if failed.Load() != 0 {
		t.Errorf("%d requests failed while a proxy drained; want 0", failed.Load())
	}
	if sent.Load() < 500 {
		t.Errorf("only %d requests in 5s; the load did not run", sent.Load())
	}
}

// Command tablefill hands a Tether proxy a session table of a given size,
// for bench/run.sh's "table" scenario (issue 18): it joins the proxy's
// cluster as a proxy of its own (gossip and the replication channel,
// encrypted with the cluster's key), holds N session entries of one
// balancer, and the proxy copies them as it copies any peer's table (the
// full copy at start, then anti-entropy). With -pin ID=ROUTE it also holds
// that session's entry, so that the benchmark's own requests find theirs.
//
//	tablefill -cluster bench -key KEY -bind 127.0.0.1:PORT -join 127.0.0.1:PORT \
//	    -balancer table -n 1000000 -pin 0123456789ABCDEF0123456789ABCDEF.tomcat1=tomcat1
//
// It prints "tablefill ready" once its table is full and runs until it is
// stopped (SIGTERM or SIGINT).
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/membership"
	"github.com/tether-proxy/tether/replication"
)

func main() {
	cluster := flag.String("cluster", "bench", "cluster name")
	key := flag.String("key", "", "gossip key (base64), the proxy's gossip_key")
	bind := flag.String("bind", "127.0.0.1:0", "gossip host:port; replication listens on port+1")
	join := flag.String("join", "", "the proxy's gossip host:port")
	balancer := flag.String("balancer", "table", "balancer name of the entries")
	n := flag.Int("n", 0, "session entries")
	pin := flag.String("pin", "", "ID=ROUTE: one more entry, the benchmark's session")
	ttl := flag.Duration("ttl", 30*time.Minute, "entries expire after this")
	flag.Parse()
	if *key == "" || *join == "" {
		log.Fatal("tablefill: -key and -join are required")
	}
	raw, err := base64.StdEncoding.DecodeString(*key)
	if err != nil {
		log.Fatalf("tablefill: -key: %v", err)
	}
	host, port, err := net.SplitHostPort(*bind)
	if err != nil {
		log.Fatalf("tablefill: -bind: %v", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65534 {
		log.Fatalf("tablefill: -bind: a port 1..65534 (replication uses the next one)")
	}
	replAddr := net.JoinHostPort(host, strconv.Itoa(p+1))

	const self = "tablefill"
	zl := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	tab, err := replication.New(replication.Config{
		NodeName: self, Bind: replAddr, Keys: [][]byte{raw}, Label: *cluster,
		SessionTTL: *ttl, MaxEntries: *n + 1_000_000, Logger: zl,
	})
	if err != nil {
		log.Fatalf("tablefill: %v", err)
	}
	now := time.Now()
	es := make([]replication.Entry, 0, 4096)
	add := func(k, route string) {
		es = append(es, replication.Entry{Balancer: *balancer, Key: k, Route: route, Origin: self,
			Version: replication.MakeVersion(now, 0), Expires: now.Add(*ttl)})
		if len(es) == cap(es) {
			tab.Apply(es, now)
			es = es[:0]
		}
	}
	for i := range *n {
		// Tomcat-like ids: 32 hex digits and a route.
		add(fmt.Sprintf("%016X%016X.tomcat%d", uint64(i)*0x9E3779B97F4A7C15, uint64(i), 1+i%2), "tomcat"+strconv.Itoa(1+i%2))
	}
	if *pin != "" {
		id, route, ok := strings.Cut(*pin, "=")
		if !ok {
			log.Fatal("tablefill: -pin ID=ROUTE")
		}
		add(id, route)
	}
	tab.Apply(es, now)
	es = nil

	static, err := membership.NewStatic([]string{*join})
	if err != nil {
		log.Fatalf("tablefill: -join: %v", err)
	}
	c, err := membership.New(membership.Config{
		Name: self, Cluster: *cluster, Bind: *bind, GossipKeys: []string{*key}, Profile: "local",
		Meta:      membership.Meta{Role: membership.RoleProxy, Cluster: *cluster, Addr: replAddr},
		Providers: []membership.Provider{static}, Log: zl,
	})
	if err != nil {
		log.Fatalf("tablefill: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		if err := tab.Run(ctx); err != nil {
			log.Printf("tablefill: replication: %v", err)
		}
	}()
	// The other proxies of each view are the table's peers, as a proxy's.
	views, cancel := c.Subscribe()
	defer cancel()
	go func() {
		for {
			var peers []replication.Peer
			if v := c.View(); v != nil {
				for _, m := range v.Members {
					if m.Name == self || m.Meta.Role != membership.RoleProxy || m.Meta.Addr == "" {
						continue
					}
					addr := m.Meta.Addr
					if strings.HasPrefix(addr, ":") {
						addr = m.Addr.Addr().String() + addr
					}
					peers = append(peers, replication.Peer{Name: m.Name, Addr: addr})
				}
			}
			tab.SetPeers(peers)
			select {
			case <-ctx.Done():
				return
			case <-views:
			}
		}
	}()
	fmt.Printf("tablefill ready: %d entries of balancer %s, replication on %s\n", tab.Len(), *balancer, replAddr)
	if err := c.Run(ctx); err != nil {
		log.Fatalf("tablefill: membership: %v", err)
	}
	tab.Close()
}

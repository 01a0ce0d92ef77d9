// Command backend is a demo app node for Tether's examples and tests: it
// sets JSESSIONID=<id>.<route> on a new session, counts requests per
// session and says which route served. See internal/demoapp.
//
//	go run ./examples/backend -addr 127.0.0.1:8081 -route tomcat1
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tether-proxy/tether/internal/demoapp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	route := flag.String("route", "tomcat1", "jvmRoute of this node")
	ready := flag.String("ready-file", "", "write {\"addr\": ...} here once listening")
	cookie := flag.String("cookie", "JSESSIONID", "session cookie name")
	noRoute := flag.Bool("no-route", false, "session ids without a .route suffix (as PHP or Node apps issue)")
	flag.Parse()

	b := &demoapp.Backend{Route: *route, Store: demoapp.NewStore(), Cookie: *cookie, NoRoute: *noRoute}
	if err := b.Start(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
	if *ready != "" {
		data, _ := json.Marshal(map[string]string{"addr": b.Addr(), "route": *route})
		tmp := *ready + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil || os.Rename(tmp, *ready) != nil {
			fmt.Fprintln(os.Stderr, "backend: cannot write ready file")
			os.Exit(1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.Shutdown(sctx)
}

// Command backend is the benchmark's stand-in for a Tomcat node: a tiny,
// fast net/http server that answers every request with a 100-byte body and
// an X-Route header naming its jvmRoute. A request without a JSESSIONID
// cookie gets a new session whose id ends in ".<route>", as Tomcat does.
//
// It counts the requests it served; GET /_count answers the counter (and is
// not counted), so the harness can tell which backend a cell's traffic hit.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	route := flag.String("route", "tomcat1", "jvmRoute: the session id suffix and X-Route value")
	readyFile := flag.String("ready-file", "", "write the bound address here once listening")
	flag.Parse()

	b := &backend{route: *route, body: body(*route)}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("backend: listen: %v", err)
	}
	if *readyFile != "" {
		if err := writeReady(*readyFile, ln.Addr().String()); err != nil {
			log.Fatalf("backend: ready file: %v", err)
		}
	}
	srv := &http.Server{Handler: b, MaxHeaderBytes: 16 << 10}
	log.Fatal(srv.Serve(ln))
}

// body is exactly 100 bytes: the route's name padded with dots, then "\n".
func body(route string) []byte {
	s := "route=" + route + " "
	if len(s) > 99 {
		s = s[:99]
	}
	return []byte(s + strings.Repeat(".", 99-len(s)) + "\n")
}

type backend struct {
	route string
	body  []byte
	// served counts answered requests, excluding /_count.
	served atomic.Int64
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_count" {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%d\n", b.served.Load())
		return
	}
	b.served.Add(1)
	h := w.Header()
	h.Set("X-Route", b.route)
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(b.body)))
	if _, err := r.Cookie("JSESSIONID"); err != nil {
		h.Set("Set-Cookie", "JSESSIONID="+newID()+"."+b.route+"; Path=/")
	}
	w.Write(b.body)
}

// newID returns 32 hex digits, the shape of a Tomcat session id.
func newID() string {
	var p [16]byte
	rand.Read(p[:])
	return strings.ToUpper(hex.EncodeToString(p[:]))
}

// writeReady writes addr to path atomically (write, then rename).
func writeReady(path, addr string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

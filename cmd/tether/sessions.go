package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tether-proxy/tether/proxy"
)

const sessionsUsage = `usage: tether sessions BALANCER SESSION_ID [remove | move MEMBER] [--admin ADDR] [--json]

Shows where a session of a balancer goes and why: the route in its id, the
session table's entry for it (a failover pin or a learned session, with its
age and expiry) and the member its next request goes to. "remove" deletes the
entry on every proxy of the cluster (the session routes by its own id again);
"move MEMBER" pins it to MEMBER on every proxy. Uses the admin API
(GET, DELETE and PUT /api/sessions).
`

// cmdSessions runs "tether sessions".
func cmdSessions(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, sessionsUsage)
		fs.PrintDefaults()
	}
	addr, token := adminFlags(fs)
	asJSON := fs.Bool("json", false, "print the raw JSON")
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < 2 {
		fs.Usage()
		return usageError{fmt.Errorf("want BALANCER SESSION_ID")}
	}
	q := url.Values{"balancer": {pos[0]}, "id": {pos[1]}}
	path := "/api/sessions?" + q.Encode()
	method := http.MethodGet
	var body any
	switch {
	case len(pos) == 2:
	case len(pos) == 3 && pos[2] == "remove":
		method = http.MethodDelete
	case len(pos) == 4 && pos[2] == "move":
		method, body = http.MethodPut, map[string]string{"member": pos[3]}
	default:
		fs.Usage()
		return usageError{fmt.Errorf("after BALANCER SESSION_ID: want nothing, remove, or move MEMBER; got %q", strings.Join(pos[2:], " "))}
	}
	var info proxy.SessionInfo
	if err := adminDo(method, *addr, *token, path, body, &info); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	switch method {
	case http.MethodDelete:
		fmt.Fprintln(stdout, "entry removed on every proxy; now:")
	case http.MethodPut:
		fmt.Fprintf(stdout, "pinned to %s on every proxy; now:\n", pos[3])
	}
	printSession(stdout, info)
	return nil
}

func printSession(w io.Writer, info proxy.SessionInfo) {
	fmt.Fprintf(w, "balancer  %s (sticky %s)\n", info.Balancer, info.Sticky)
	if info.Sticky == "jvmroute" || info.Sticky == "" {
		r := dash(info.IDRoute)
		if info.IDRoute != "" && !info.IDMember {
			r += " (no member has it)"
		}
		fmt.Fprintf(w, "id route  %s\n", r)
	}
	if e := info.Entry; e != nil {
		fmt.Fprintf(w, "entry     %s → %s, written by %s %s ago, expires in %s\n", e.Kind, e.Route, e.Origin,
			(time.Duration(e.Age) * time.Second).String(), (time.Duration(e.ExpiresIn) * time.Second).String())
	} else {
		fmt.Fprintln(w, "entry     none")
	}
	fmt.Fprintf(w, "goes to   %s (%s)\n", dash(info.Member), info.Reason)
	fmt.Fprintf(w, "why       %s\n", info.Why)
	if info.Error != "" {
		fmt.Fprintf(w, "error     %s\n", info.Error)
	}
}

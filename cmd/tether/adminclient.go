package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tether-proxy/tether/proxy"
	"github.com/tether-proxy/tether/proxy/admin"
)

// adminFlags are the flags every admin-API client command takes.
func adminFlags(fs *flag.FlagSet) (addr, token *string) {
	addr = fs.String("admin", envOr("TETHER_ADMIN", "127.0.0.1:9180"), "admin API address")
	token = fs.String("token", os.Getenv("TETHER_ADMIN_TOKEN"), "admin API token")
	return addr, token
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func adminDo(method, addr, token, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	// State-changing requests without it are refused as possibly
	// cross-site (see proxy's sameOrigin).
	req.Header.Set("X-Tether-Admin", "cli")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func cmdStatus(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	addr, token := adminFlags(fs)
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	var st proxy.Status
	if err := adminDo(http.MethodGet, *addr, *token, "/api/status", nil, &st); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(stdout, st, time.Now())
	return nil
}

// printStatus writes the cluster and the balancers as terminal tables.
func printStatus(w io.Writer, st proxy.Status, now time.Time) {
	node := st.Node.Name
	if node == "" {
		node = "standalone"
	}
	serving := "serving"
	if st.Node.Draining {
		serving = "DRAINING"
	}
	fmt.Fprintf(w, "tether %s · node %s · up %s · %s", st.Node.Version, node, now.Sub(st.Node.Started).Round(time.Second), serving)
	if c := st.Cluster; c != nil {
		fmt.Fprintf(w, " · cluster %s (epoch %d, %d members", c.Name, c.Epoch, len(c.Members))
		if len(c.Gone) > 0 {
			fmt.Fprintf(w, ", %d gone", len(c.Gone))
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	if s := st.Sessions; s != nil {
		fmt.Fprintf(w, "sessions: %d replicated, lag %s\n", s.Entries, admin.LagText(s.LagMs))
	}
	if c := st.Cluster; c != nil {
		for _, m := range c.ConfigMismatches {
			fmt.Fprintf(w, "BALANCERS DIFFER from peer %s: %s %s (not shared with it)\n", m.Peer, or(m.Balancer, "(which: with its next counters)"), m.Differs)
		}
	}

	if c := st.Cluster; c != nil && len(c.Members)+len(c.Gone) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLUSTER MEMBER\tROLE\tADDRESS\tSERVICE/ROUTE\tURL\tSTATE\tHEALTH\tVERSION\tLAST SEEN")
		// The proxy's own clock dates a gone member; this node's own
		// last_seen is the proxy's now, so the age does not depend on
		// this host's clock agreeing with it.
		ref := now
		for _, m := range c.Members {
			if m.Name == c.Self && !m.LastSeen.IsZero() {
				ref = m.LastSeen
			}
		}
		for _, m := range append(c.Members[:len(c.Members):len(c.Members)], c.Gone...) {
			name := m.Name
			if name == c.Self {
				name += " *"
			}
			svc := m.Service
			if m.Route != "" {
				svc += "/" + m.Route
			}
			state, health, seen := m.State, upDown(m.Healthy, ""), "now"
			if m.Status == "gone" {
				state, health, seen = "GONE", "-", lastSeen(m.LastSeen, ref)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, m.Role, m.Addr, dash(svc), dash(m.URL), state, health, dash(m.Version), seen)
		}
		tw.Flush()
	}

	for _, b := range st.Balancers {
		counted := "member counters this proxy's"
		if b.CounterProxies > 0 {
			counted = fmt.Sprintf("member counters summed over %d proxies, latency and sessions this proxy's", b.CounterProxies)
		}
		if rb := b.RetryBudget; rb != nil || b.RetriesRefused > 0 || b.Ejections > 0 || b.EjectionsKept > 0 {
			var extra string
			if rb != nil {
				extra = fmt.Sprintf("retry budget %d of %.0f in %s · ", rb.Retries, rb.Allowed, rb.Window)
			}
			counted = fmt.Sprintf("%sretries refused %d · ejections %d · outliers kept in %d · %s", extra, b.RetriesRefused, b.Ejections, b.EjectionsKept, counted)
		}
		fmt.Fprintf(w, "\nBALANCER %s  %s · sticky %s\n  this proxy: failovers %d · retries %d · no member %d · pins refused %d · %s\n",
			b.Name, or(b.Policy, "round_robin"), or(b.Sticky, "jvmroute"), b.Failovers, b.Retries, b.NoMember, b.PinsRefused, counted)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MEMBER\tURL\tSTATE\tHEALTH\tINFL\tREQS\t2XX\t3XX\t4XX\t5XX\tERR\tP50MS\tP90MS\tP99MS\tSESS")
		for _, m := range b.Members {
			sess := "n/a"
			if m.Sessions != nil {
				sess = fmt.Sprint(*m.Sessions)
			}
			c, l := m.Shown(), m.Latency
			r := c.Responses
			p := func(v float64) string {
				if l.Count == 0 {
					return "-"
				}
				return fmt.Sprintf("%.1f", v)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n",
				m.Name, m.URL, m.State, upDown(m.Healthy, m.Reason), c.InFlight, c.Requests,
				r.Success, r.Redirect, r.ClientError, r.ServerError, r.Transport, p(l.P50), p(l.P90), p(l.P99), sess)
		}
		tw.Flush()
		for i, f := range b.RecentFailovers {
			if i == 5 {
				fmt.Fprintf(w, "  … %d more on the status page\n", len(b.RecentFailovers)-5)
				break
			}
			switch {
			case f.To == "": // an outlier ejection
				fmt.Fprintf(w, "  ejected  %s  %s  (%s)\n", f.At.Local().Format("15:04:05"), f.From, f.Reason)
			case f.From == "": // back after an ejection
				fmt.Fprintf(w, "  back     %s  %s  (%s)\n", f.At.Local().Format("15:04:05"), f.To, f.Reason)
			default:
				fmt.Fprintf(w, "  failover %s  %s → %s  (%s)\n", f.At.Local().Format("15:04:05"), f.From, f.To, f.Reason)
			}
		}
	}
	if len(st.Certificates) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CERTIFICATE\tSOURCE\tEXPIRES\tDAYS LEFT")
		for _, c := range st.Certificates {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", strings.Join(c.Names, ","), c.Source, c.NotAfter.Format("2006-01-02"), int(c.NotAfter.Sub(now).Hours()/24))
		}
		tw.Flush()
	}
}

// lastSeen says how long ago a gone member was last seen, to the second
// (3m12s ago), or "-" when the proxy did not say.
func lastSeen(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return max(now.Sub(t), 0).Round(time.Second).String() + " ago"
}

func upDown(ok bool, reason string) string {
	if ok {
		return "up"
	}
	if reason != "" {
		return "down (" + reason + ")"
	}
	return "down"
}

func dash(s string) string { return or(s, "-") }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func cmdSetState(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("set-state", flag.ContinueOnError)
	addr, token := adminFlags(fs)
	if err := fs.Parse(reorder(args)); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 3 {
		return usageError{fmt.Errorf("want BALANCER MEMBER active|disabled|stopped")}
	}
	b, m, s := fs.Arg(0), fs.Arg(1), fs.Arg(2)
	path := "/api/balancers/" + b + "/members/" + m + "/state"
	if err := adminDo(http.MethodPut, *addr, *token, path, map[string]string{"state": s}, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s/%s: %s\n", b, m, s)
	return nil
}

// reorder moves flags after positional arguments to the front, so
// `tether set-state lb m1 disabled --admin X` works as users type it.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

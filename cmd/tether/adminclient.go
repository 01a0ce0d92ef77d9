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
	fmt.Fprintf(stdout, "tether %s, up since %s, draining=%v\n\n", st.Node.Version, st.Node.Started.Format(time.RFC3339), st.Node.Draining)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BALANCER\tMEMBER\tURL\tSTATE\tHEALTH\tIN-FLIGHT\tREQUESTS\tERRORS")
	for _, b := range st.Balancers {
		for _, m := range b.Members {
			health := "up"
			if !m.Healthy {
				health = "down"
				if m.Reason != "" {
					health += " (" + m.Reason + ")"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", b.Name, m.Name, m.URL, m.State, health, m.InFlight, m.Requests, m.Errors)
		}
	}
	return tw.Flush()
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

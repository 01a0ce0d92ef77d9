package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/tether-proxy/tether/membership"
)

// nodeName is this process's member name: --node-name, else
// $TETHER_NODE_NAME, else the hostname.
func nodeName(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv("TETHER_NODE_NAME"); v != "" {
		return v
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "tether"
	}
	return h
}

func cmdKeygen(args []string, stdout interface{ Write([]byte) (int, error) }) error {
	if len(args) != 0 {
		return usageError{fmt.Errorf("takes no arguments")}
	}
	k, err := membership.GenerateKey()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k)
	return nil
}

// splitList splits comma-separated flag values.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

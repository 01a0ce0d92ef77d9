package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-proxy/tether/membership"
)

func TestDiscoverFlag(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     membership.DiscoverSpec
		wantErr  string
	}{
		{name: "ec2", in: "ec2 tag=tether-role=proxy tag=env port=7946 region=eu-west-1",
			want: membership.DiscoverSpec{Kind: "ec2", Options: map[string][]string{"tag": {"tether-role=proxy", "env"}, "port": {"7946"}, "region": {"eu-west-1"}}}},
		{name: "s3", in: "s3  bucket=b\tprefix=tether/members/",
			want: membership.DiscoverSpec{Kind: "s3", Options: map[string][]string{"bucket": {"b"}, "prefix": {"tether/members/"}}}},
		{name: "dns", in: "dns tether.internal port=7000", want: membership.DiscoverSpec{Kind: "dns", Addrs: []string{"tether.internal"}, Options: map[string][]string{"port": {"7000"}}}},
		{name: "static", in: "static 10.0.0.1:7946 10.0.0.2:7946", want: membership.DiscoverSpec{Kind: "static", Addrs: []string{"10.0.0.1:7946", "10.0.0.2:7946"}}},
		{name: "empty", in: " ", wantErr: "want KIND"},
		{name: "unknown kind", in: "consul x", wantErr: `unknown provider "consul"`},
		{name: "empty value", in: "ec2 tag=", wantErr: `"tag=": want KEY=VALUE`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d discoverFlag
			err := d.Set(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Set(%q) = %v; want an error with %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || len(d) != 1 || !reflect.DeepEqual(d[0], tc.want) {
				t.Errorf("Set(%q) = %+v, %v; want %+v", tc.in, d, err, tc.want)
			}
		})
	}
}

// TestAgentFileArgs: the agent block becomes flags, which parse back into
// the same discover specs; a file without the block is an error.
func TestAgentFileArgs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.Caddyfile")
	os.WriteFile(path, []byte(`{
	agent prod {
		discover ec2 {
			tag tether-role=proxy
			port 7946
		}
		discover static 10.0.0.1:7946
		service app
		url ajp://127.0.0.1:8009
		weight 3
		drain_delay 5s
	}
}
`), 0o644)
	args, err := agentFileArgs(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--cluster", "prod", "--service", "app", "--url", "ajp://127.0.0.1:8009", "--weight", "3", "--drain-delay", "5s",
		"--discover", "ec2 port=7946 tag=tether-role=proxy", "--discover", "static 10.0.0.1:7946"}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("agentFileArgs = %q; want %q", args, want)
	}
	if got := configFlag([]string{"--name", "a", "-c", path}); got != path {
		t.Errorf("configFlag = %q; want %q", got, path)
	}
	if got := configFlag([]string{"--c=" + path}); got != path {
		t.Errorf("configFlag(--c=) = %q; want %q", got, path)
	}
	none := filepath.Join(dir, "proxy.Caddyfile")
	os.WriteFile(none, []byte("{\n\tadmin off\n}\n"), 0o644)
	if _, err := agentFileArgs(none); err == nil || !strings.Contains(err.Error(), "no agent block") {
		t.Errorf("agentFileArgs(a file without agent) = %v; want no agent block", err)
	}
}

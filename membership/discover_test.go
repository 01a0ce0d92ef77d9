package membership

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestNewProviderRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec DiscoverSpec
		want string
	}{
		{name: "unknown kind", spec: DiscoverSpec{Kind: "consul"}, want: "unknown kind"},
		{name: "static without port", spec: DiscoverSpec{Kind: "static", Addrs: []string{"10.0.0.1"}}, want: "not host:port"},
		{name: "static with option", spec: DiscoverSpec{Kind: "static", Addrs: []string{"10.0.0.1:7946"}, Options: map[string][]string{"port": {"1"}}}, want: "unknown option"},
		{name: "dns bad port", spec: DiscoverSpec{Kind: "dns", Addrs: []string{"x"}, Options: map[string][]string{"port": {"0"}}}, want: "port"},
		{name: "dns no names", spec: DiscoverSpec{Kind: "dns"}, want: "no names"},
		{name: "ec2 unknown option", spec: DiscoverSpec{Kind: "ec2", Options: map[string][]string{"tags": {"a=b"}}}, want: `unknown option "tags"`},
		{name: "ec2 addresses", spec: DiscoverSpec{Kind: "ec2", Addrs: []string{"x"}}, want: "takes no addresses"},
		{name: "ec2 no filter", spec: DiscoverSpec{Kind: "ec2", Options: map[string][]string{"region": {"us-east-1"}}}, want: "at least one"},
		{name: "ec2 bad address", spec: DiscoverSpec{Kind: "ec2", Options: map[string][]string{"region": {"us-east-1"}, "tag": {"a=b"}, "address": {"ipv9"}}}, want: "want private or public"},
		{name: "s3 no bucket", spec: DiscoverSpec{Kind: "s3", Options: map[string][]string{"region": {"us-east-1"}}}, want: "bucket is required"},
		{name: "s3 two regions", spec: DiscoverSpec{Kind: "s3", Options: map[string][]string{"region": {"a", "b"}}}, want: "one value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			p, err := NewProvider(t.Context(), tc.spec, zerolog.Nop())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewProvider(%+v) = %v, %v; want error containing %q", tc.spec, p, err, tc.want)
			}
		})
	}
}

// failing is a Provider that answers addrs and err.
type failing struct {
	addrs []string
	err   error
}

func (f failing) Addrs(context.Context) ([]string, error) { return f.addrs, f.err }

func TestCombine(t *testing.T) {
	s, _ := NewStatic([]string{"10.0.0.2:7946", "10.0.0.1:7946"})
	boom := errors.New("boom")
	p := Combine(s, failing{addrs: []string{"10.0.0.1:7946", "10.0.0.3:7946"}, err: boom})
	got, err := p.Addrs(t.Context())
	want := []string{"10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946"}
	if !slices.Equal(got, want) || !errors.Is(err, boom) {
		t.Errorf("Combine(...).Addrs() = %v, %v; want %v and the failing provider's error", got, err, want)
	}
}

func TestDNS(t *testing.T) {
	d, err := NewDNS([]string{"gossip.internal", "_gossip._tcp.internal"}, 7946)
	if err != nil {
		t.Fatal(err)
	}
	outage := false
	d.lookupIP = func(_ context.Context, host string) ([]net.IPAddr, error) {
		if outage {
			return nil, errors.New("no such host")
		}
		switch host {
		case "gossip.internal":
			return []net.IPAddr{{IP: net.ParseIP("10.0.0.1")}, {IP: net.ParseIP("fd00::1")}}, nil
		case "n1.internal.":
			return []net.IPAddr{{IP: net.ParseIP("10.0.0.7")}}, nil
		}
		return nil, errors.New("no such host")
	}
	d.lookupSRV = func(_ context.Context, name string) ([]*net.SRV, error) {
		return []*net.SRV{{Target: "n1.internal.", Port: 8001}, {Target: "gone.internal.", Port: 8002}}, nil
	}
	got, err := d.Addrs(t.Context())
	want := []string{"10.0.0.1:7946", "10.0.0.7:8001", "[fd00::1]:7946"}
	if !slices.Equal(got, want) || err == nil || !strings.Contains(err.Error(), "gone.internal") {
		t.Errorf("Addrs() = %v, %v; want %v and an error naming gone.internal", got, err, want)
	}
	outage = true
	got, err = d.Addrs(t.Context())
	if !slices.Equal(got, want) || err == nil {
		t.Errorf("Addrs() in an outage = %v, %v; want the last good %v and an error", got, err, want)
	}
}

func TestDNSLocalhost(t *testing.T) {
	d, _ := NewDNS([]string{"localhost"}, 7000)
	got, err := d.Addrs(t.Context())
	if err != nil || !slices.Contains(got, "127.0.0.1:7000") {
		t.Errorf("Addrs() for localhost = %v, %v; want 127.0.0.1:7000 among them", got, err)
	}
}

// TestAdvertiseAuto serves IMDSv2 from a hand-written fake.
func TestAdvertiseAuto(t *testing.T) {
	const token = "tok"
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false") // needMoto disables it for the credential chain
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			w.Write([]byte(token))
		case r.URL.Path == "/latest/meta-data/local-ipv4" && r.Header.Get("X-Aws-Ec2-Metadata-Token") == token:
			w.Write([]byte("127.0.0.1"))
		default:
			http.Error(w, "no", http.StatusUnauthorized)
		}
	}))
	defer imds.Close()
	n := startNode(t, "auto", func(cfg *Config) {
		cfg.Bind = "0.0.0.0:0"
		cfg.Advertise = "auto"
		cfg.IMDSEndpoint = imds.URL
	})
	if got := n.Addr().Addr().String(); got != "127.0.0.1" {
		t.Errorf("Addr() with Advertise auto = %v; want 127.0.0.1 from instance metadata", n.Addr())
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no cluster", cfg: Config{Name: "a", Meta: Meta{Role: RoleProxy}}, want: "cluster name"},
		{name: "bad profile", cfg: Config{Cluster: "c", Profile: "moon", Meta: Meta{Role: RoleProxy}}, want: "profile"},
		{name: "bad key", cfg: Config{Cluster: "c", GossipKeys: []string{"AAAA"}, Meta: Meta{Role: RoleProxy}}, want: "gossip key 1"},
		{name: "bad bind", cfg: Config{Cluster: "c", Bind: "localhost:1", Meta: Meta{Role: RoleProxy}}, want: "bind"},
		{name: "bad advertise", cfg: Config{Cluster: "c", Bind: "127.0.0.1:0", Advertise: "host.example", Meta: Meta{Role: RoleProxy}}, want: "advertise"},
		{name: "no role", cfg: Config{Cluster: "c", Bind: "127.0.0.1:0"}, want: "role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if err == nil {
				c.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%+v) = %v; want error containing %q", tc.cfg, err, tc.want)
			}
		})
	}
}

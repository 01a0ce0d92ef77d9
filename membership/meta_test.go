package membership

import (
	"errors"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		meta Meta
	}{
		{name: "proxy", meta: Meta{Role: RoleProxy, Cluster: "prod", Addr: "10.0.1.5:7947", Version: 1, Build: "v0.1.0"}},
		{name: "backend", meta: Meta{Role: RoleBackend, Cluster: "prod", Service: "app", Route: "tomcat1",
			URL: "ajp://10.0.1.10:8009", Domain: "az-b", Weight: 100000, State: StateDisabled, Healthy: true, Version: 1<<63 + 5}},
		{name: "minimal", meta: Meta{Role: RoleBackend}},
		{name: "draining", meta: Meta{Role: RoleProxy, State: StateDraining}},
		{name: "proxy with balancer digest", meta: Meta{Role: RoleProxy, Cluster: "prod", Addr: "10.0.1.5:7947", Healthy: true, BalancerDigest: 0x8000_0000_0000_0001}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodeMeta(tc.meta)
			if err != nil {
				t.Fatalf("EncodeMeta(%+v) = %v", tc.meta, err)
			}
			got, err := DecodeMeta(b)
			if err != nil || got != tc.meta {
				t.Errorf("DecodeMeta(EncodeMeta(%+v)) = %+v, %v; want the input", tc.meta, got, err)
			}
			// Later releases may append fields: trailing bytes are ignored.
			if got, err := DecodeMeta(append(b, 0xff, 1, 2)); err != nil || got != tc.meta {
				t.Errorf("DecodeMeta with trailing bytes = %+v, %v; want %+v", got, err, tc.meta)
			}
		})
	}
}

// TestMetaDigestAppended: the balancer digest is appended after the fields
// older releases know, behind a flag they ignore, so their decoders read a
// new proxy's metadata as before (they ignore trailing bytes).
func TestMetaDigestAppended(t *testing.T) {
	old := Meta{Role: RoleProxy, Cluster: "prod", Addr: "10.0.1.5:7947", Healthy: true, Version: 9, Build: "v0.1.0"}
	withDigest := old
	withDigest.BalancerDigest = 0x0123456789abcdef
	a, err := EncodeMeta(old)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeMeta(withDigest)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != len(a)+8 || b[3]&^flagBalancers != a[3] || string(b[4:len(a)]) != string(a[4:]) || string(b[:3]) != string(a[:3]) {
		t.Errorf("EncodeMeta with digest = %x; want %x with flag %d and 8 bytes appended", b, a, flagBalancers)
	}
	if got, err := DecodeMeta(a); err != nil || got.BalancerDigest != 0 {
		t.Errorf("DecodeMeta(metadata without digest) = %+v, %v; want digest 0 (not reported)", got, err)
	}
}

func TestMetaInvalid(t *testing.T) {
	for _, tc := range []struct {
		name    string
		meta    Meta
		wantErr error
	}{
		{name: "no role", meta: Meta{}},
		{name: "unknown role", meta: Meta{Role: 9}},
		{name: "unknown state", meta: Meta{Role: RoleProxy, State: 9}},
		{name: "route with dot", meta: Meta{Role: RoleBackend, Route: "a.b"}},
		{name: "route too long", meta: Meta{Role: RoleBackend, Route: strings.Repeat("r", 65)}},
		{name: "field too long", meta: Meta{Role: RoleBackend, URL: strings.Repeat("u", 256)}},
		{name: "over 512 bytes", meta: bigMeta(), wantErr: ErrMetaTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodeMeta(tc.meta)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("EncodeMeta(%+v) = %d bytes, %v; want error %v", tc.meta, len(b), err, tc.wantErr)
			}
		})
	}
}

func TestDecodeMetaMalformed(t *testing.T) {
	good, _ := EncodeMeta(Meta{Role: RoleBackend, Route: "n1", URL: "http://x"})
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{name: "empty", in: nil},
		{name: "short", in: []byte{1, 1}},
		{name: "other format", in: append([]byte{2}, good[1:]...)},
		{name: "truncated", in: good[:len(good)-3]},
		{name: "bad role", in: append([]byte{1, 7}, good[2:]...)},
		{name: "huge length", in: append(good[:6:6], 0xff, 0xff, 0xff, 0xff, 0x0f)},
		{name: "too long", in: make([]byte, MaxMetaSize+1)},
		{name: "digest flag without digest", in: append(append([]byte{}, good[:3]...), append([]byte{good[3] | flagBalancers}, good[4:]...)...)},
		{name: "truncated digest", in: func() []byte {
			b, _ := EncodeMeta(Meta{Role: RoleProxy, BalancerDigest: 42})
			return b[:len(b)-1]
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := DecodeMeta(tc.in); err == nil {
				t.Errorf("DecodeMeta(%x) = %+v, nil; want an error", tc.in, got)
			}
		})
	}
}

func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{RoleProxy.String(), "proxy"}, {RoleBackend.String(), "backend"}, {Role(9).String(), "role(9)"},
		{StateActive.String(), "active"}, {StateDraining.String(), "draining"}, {State(7).String(), "state(7)"},
	} {
		if tc.got != tc.want {
			t.Errorf("String() = %q; want %q", tc.got, tc.want)
		}
	}
	for _, s := range []string{"active", "disabled", "stopped", "draining"} {
		if st, err := ParseState(s); err != nil || st.String() != s {
			t.Errorf("ParseState(%q) = %v, %v; want %s", s, st, err, s)
		}
	}
	if _, err := ParseRole("unknown"); err == nil {
		t.Errorf("ParseRole(unknown) = nil error; want an error")
	}
}

func FuzzDecodeMeta(f *testing.F) {
	for _, m := range []Meta{
		{Role: RoleProxy, Cluster: "prod", Addr: "10.0.1.5:7947", Version: 3},
		{Role: RoleBackend, Service: "app", Route: "tomcat1", URL: "ajp://10.0.1.10:8009", Weight: 2, Healthy: true},
		{Role: RoleProxy, Cluster: "prod", Addr: "10.0.1.5:7947", Version: 4, BalancerDigest: 0xfedcba9876543210},
	} {
		b, _ := EncodeMeta(m)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes within the limit and decodes the same.
		enc, err := EncodeMeta(m)
		if err != nil {
			t.Fatalf("EncodeMeta(DecodeMeta(%x)) = %v", b, err)
		}
		if again, err := DecodeMeta(enc); err != nil || again != m {
			t.Fatalf("round trip of %x: %+v, %v; want %+v", b, again, err, m)
		}
	})
}

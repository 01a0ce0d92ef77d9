package route53dns

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/libdns/libdns"

	"github.com/tether-proxy/tether/internal/testpeers"
)

var moto *testpeers.Moto

// TestMain starts moto_server; CI must run these tests, so a missing
// moto_server fails the run rather than skipping.
func TestMain(m *testing.M) { testpeers.MotoMain(m, &moto, false) }

func needMoto(t *testing.T) {
	t.Helper()
	if moto == nil {
		t.Skip("integration test (moto_server); skipped under -short")
	}
}

// newZone creates a public hosted zone named zone on moto and returns its id.
func newZone(t *testing.T, zone string, private bool) string {
	t.Helper()
	in := &route53.CreateHostedZoneInput{Name: aws.String(zone), CallerReference: aws.String(fmt.Sprint(time.Now().UnixNano()))}
	if private {
		in.HostedZoneConfig = &types.HostedZoneConfig{PrivateZone: true}
		in.VPC = &types.VPC{VPCId: aws.String("vpc-12345678"), VPCRegion: types.VPCRegionUsEast1}
	}
	out, err := moto.Route53().CreateHostedZone(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateHostedZone: %v", err)
	}
	return strings.TrimPrefix(aws.ToString(out.HostedZone.Id), "/hostedzone/")
}

// txt returns the decoded TXT values of name in zone id, sorted.
func txt(t *testing.T, id, name string) []string {
	t.Helper()
	out, err := moto.Route53().ListResourceRecordSets(t.Context(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, s := range out.ResourceRecordSets {
		if normalize(aws.ToString(s.Name)) != normalize(name) || s.Type != types.RRTypeTxt {
			continue
		}
		for _, r := range s.ResourceRecords {
			v, err := DecodeTXT(aws.ToString(r.Value))
			if err != nil {
				t.Fatalf("moto holds %q: %v", aws.ToString(r.Value), err)
			}
			vals = append(vals, v)
		}
	}
	sort.Strings(vals)
	return vals
}

func challenge(v string) []libdns.Record {
	return []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: v}}
}

// TestAppendDelete: two challenges sharing one name (example.com and
// *.example.com) both stay in the set; deleting one keeps the other, and
// deleting the last removes the set; values that are not there are
// ignored. The zone is found by name, the public one over a private one
// of the same name.
func TestAppendDelete(t *testing.T) {
	needMoto(t)
	zone := fmt.Sprintf("z%d.test.", time.Now().UnixNano())
	newZone(t, zone, true)
	id := newZone(t, zone, false)
	p := NewWithAPI(moto.Route53(), Config{})
	ctx := t.Context()
	name := "_acme-challenge." + zone

	got, err := p.AppendRecords(ctx, zone, challenge("token-apex"))
	if err != nil || len(got) != 1 || got[0].RR().Data != "token-apex" || got[0].RR().Name != "_acme-challenge" {
		t.Fatalf("AppendRecords(token-apex) = %+v, %v", got, err)
	}
	if _, err := p.AppendRecords(ctx, zone, challenge(`token "wild" \ card`)); err != nil {
		t.Fatal(err)
	}
	if v, want := txt(t, id, name), []string{"token \"wild\" \\ card", "token-apex"}; !slices.Equal(v, want) {
		t.Fatalf("after two appends, %s holds %q; want %q", name, v, want)
	}
	if got, err := p.AppendRecords(ctx, zone, challenge("token-apex")); err != nil || len(got) != 0 {
		t.Errorf("appending a value already there = %+v, %v; want nothing added", got, err)
	}
	if got, err := p.DeleteRecords(ctx, zone, challenge("not-there")); err != nil || len(got) != 0 {
		t.Errorf("DeleteRecords(not-there) = %+v, %v; want nothing deleted", got, err)
	}
	if got, err := p.DeleteRecords(ctx, zone, challenge("token-apex")); err != nil || len(got) != 1 {
		t.Fatalf("DeleteRecords(token-apex) = %+v, %v", got, err)
	}
	if v, want := txt(t, id, name), []string{"token \"wild\" \\ card"}; !slices.Equal(v, want) {
		t.Fatalf("after deleting one, %s holds %q; want %q", name, v, want)
	}
	if _, err := p.DeleteRecords(ctx, zone, challenge(`token "wild" \ card`)); err != nil {
		t.Fatal(err)
	}
	if v := txt(t, id, name); len(v) != 0 {
		t.Fatalf("after deleting both, %s holds %q; want no set", name, v)
	}
	long := strings.Repeat("x", 300) // over one 255-byte TXT string
	if _, err := p.AppendRecords(ctx, zone, challenge(long)); err != nil {
		t.Fatal(err)
	}
	if v := txt(t, id, name); !slices.Equal(v, []string{long}) {
		t.Errorf("a 300-byte value came back as %q", v)
	}
}

// racingAPI changes the record set behind the provider's back once, right
// after the provider read it, as another Tether instance would.
type racingAPI struct {
	API
	zoneID, name string
	raced        atomic.Bool
	changes      atomic.Int32
}

func (r *racingAPI) ListResourceRecordSets(ctx context.Context, in *route53.ListResourceRecordSetsInput, o ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error) {
	out, err := r.API.ListResourceRecordSets(ctx, in, o...)
	if err == nil && r.raced.CompareAndSwap(false, true) {
		other := NewWithAPI(r.API, Config{HostedZoneID: r.zoneID})
		if _, err := other.AppendRecords(ctx, r.name, challenge("from-another-instance")); err != nil {
			return nil, err
		}
	}
	return out, err
}

// ChangeResourceRecordSets checks the batch as Route 53 does and moto
// 5.2 does not: a DELETE must name the set exactly as it is, a CREATE a
// set that does not exist; otherwise the whole batch fails with
// InvalidChangeBatch. Only then does it pass the batch to moto.
func (r *racingAPI) ChangeResourceRecordSets(ctx context.Context, in *route53.ChangeResourceRecordSetsInput, o ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error) {
	r.changes.Add(1)
	for _, c := range in.ChangeBatch.Changes {
		want := c.ResourceRecordSet
		out, err := r.API.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: in.HostedZoneId})
		if err != nil {
			return nil, err
		}
		var cur *types.ResourceRecordSet
		for i, s := range out.ResourceRecordSets {
			if normalize(aws.ToString(s.Name)) == normalize(aws.ToString(want.Name)) && s.Type == want.Type {
				cur = &out.ResourceRecordSets[i]
			}
		}
		values := func(s *types.ResourceRecordSet) []string {
			var v []string
			for _, r := range s.ResourceRecords {
				v = append(v, aws.ToString(r.Value))
			}
			sort.Strings(v)
			return v
		}
		switch {
		case c.Action == types.ChangeActionDelete && (cur == nil || !slices.Equal(values(cur), values(want))):
			return nil, &types.InvalidChangeBatch{Message: aws.String("Tried to delete resource record set but the values provided do not match the current values")}
		case c.Action == types.ChangeActionCreate && cur != nil && !slices.ContainsFunc(in.ChangeBatch.Changes, func(d types.Change) bool { return d.Action == types.ChangeActionDelete }):
			return nil, &types.InvalidChangeBatch{Message: aws.String("Tried to create resource record set but it already exists")}
		}
	}
	return r.API.ChangeResourceRecordSets(ctx, in, o...)
}

// TestAppendRace: when another writer adds a value between the provider's
// read and its write, Route 53 refuses the stale change batch and the
// provider reads again: all values end up in the set. moto does not check
// a batch against the current set, so racingAPI does it as Route 53
// documents.
func TestAppendRace(t *testing.T) {
	needMoto(t)
	zone := fmt.Sprintf("race%d.test.", time.Now().UnixNano())
	id := newZone(t, zone, false)
	if _, err := NewWithAPI(moto.Route53(), Config{HostedZoneID: id}).AppendRecords(t.Context(), zone, challenge("seed")); err != nil {
		t.Fatal(err)
	}
	api := &racingAPI{API: moto.Route53(), zoneID: id, name: zone}
	p := NewWithAPI(api, Config{HostedZoneID: "/hostedzone/" + id})
	if _, err := p.AppendRecords(t.Context(), zone, challenge("mine")); err != nil {
		t.Fatal(err)
	}
	if v, want := txt(t, id, "_acme-challenge."+zone), []string{"from-another-instance", "mine", "seed"}; !slices.Equal(v, want) {
		t.Errorf("set holds %q; want %q (a lost update)", v, want)
	}
	if n := api.changes.Load(); n != 2 {
		t.Errorf("the provider sent %d change batches; want 2 (the stale one, then the retry)", n)
	}
}

func TestNoZone(t *testing.T) {
	needMoto(t)
	p := NewWithAPI(moto.Route53(), Config{})
	_, err := p.AppendRecords(t.Context(), "nowhere.invalid.", challenge("x"))
	if err == nil || !strings.Contains(err.Error(), "no hosted zone named nowhere.invalid.") {
		t.Errorf("AppendRecords in a zone Route 53 does not have = %v; want a no hosted zone error", err)
	}
}

func TestDecodeTXT(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "plain", in: `"abc"`, want: "abc"},
		{name: "escapes", in: `"a\"b\\c"`, want: `a"b\c`},
		{name: "octal", in: `"\052.x"`, want: "*.x"},
		{name: "two strings", in: `"ab" "cd"`, want: "abcd"},
		{name: "unquoted", in: `abc`, want: "abc"},
		{name: "unterminated", in: `"abc`, wantErr: true},
		{name: "text outside", in: `"a"b`, wantErr: true},
		{name: "escape at end", in: `"a\`, wantErr: true},
		{name: "octal out of range", in: `"\777"`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeTXT(tc.in)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("DecodeTXT(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// FuzzTXTRoundTrip: what encodeValue writes, DecodeTXT reads back, and
// DecodeTXT never panics on what Route 53 (or anyone) might hold.
func FuzzTXTRoundTrip(f *testing.F) {
	for _, s := range []string{"", "abc", `a"b\c`, strings.Repeat("y", 600), "\x00\xff", `"\052"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, err := DecodeTXT(encodeValue("TXT", s)); err != nil || got != s {
			t.Fatalf("DecodeTXT(encodeValue(%q)) = %q, %v", s, got, err)
		}
		DecodeTXT(s)
	})
}

// recorder is a loopback front to moto_server that records the access
// key each request was signed with and its session token, and answers
// the first fail requests with a 503 itself (Route 53 unavailable).
type recorder struct {
	mu     sync.Mutex
	keys   []string // Credential=KEY/... of each request
	tokens []string
	fail   atomic.Int32
	seen   atomic.Int32
}

func newRecorder(t *testing.T) (*recorder, string) {
	rec := &recorder{}
	target, _ := url.Parse(moto.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.seen.Add(1)
		auth := r.Header.Get("Authorization")
		key := ""
		if _, after, ok := strings.Cut(auth, "Credential="); ok {
			key, _, _ = strings.Cut(after, "/")
		}
		rec.mu.Lock()
		rec.keys = append(rec.keys, key)
		rec.tokens = append(rec.tokens, r.Header.Get("X-Amz-Security-Token"))
		rec.mu.Unlock()
		if rec.fail.Add(-1) >= 0 {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try again</Message></Error></ErrorResponse>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

// TestCredentialsAndRetries: Caddy's route53 options reach the SDK:
// static credentials (with a session token) sign the requests instead of
// the environment's, a profile's are read from the shared files, and
// max_retries bounds each call's attempts.
func TestCredentialsAndRetries(t *testing.T) {
	needMoto(t)
	moto.AWSEnv(t.Setenv)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT")
	shared := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(shared, []byte("[dns]\naws_access_key_id = AKIAFROMPROFILE\naws_secret_access_key = x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", shared)
	zone := fmt.Sprintf("creds%d.test.", time.Now().UnixNano())
	id := newZone(t, zone, false)
	for _, tc := range []struct {
		name     string
		cfg      Config
		key, tok string
	}{
		{"environment", Config{}, "AKIAFROMENVIRONMENT", ""},
		{"static", Config{AccessKeyID: "AKIASTATIC", SecretAccessKey: "s3cret", SessionToken: "tok"}, "AKIASTATIC", "tok"},
		{"profile", Config{Profile: "dns"}, "AKIAFROMPROFILE", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, front := newRecorder(t)
			tc.cfg.Endpoint, tc.cfg.HostedZoneID = front, id
			p, err := New(t.Context(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.AppendRecords(t.Context(), zone, challenge(tc.name)); err != nil {
				t.Fatal(err)
			}
			if v := txt(t, id, "_acme-challenge."+zone); !slices.Contains(v, tc.name) {
				t.Errorf("moto holds %q; want %q among them", v, tc.name)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for i := range rec.keys {
				if rec.keys[i] != tc.key || rec.tokens[i] != tc.tok {
					t.Errorf("request %d signed by %q with token %q; want %q, %q", i, rec.keys[i], rec.tokens[i], tc.key, tc.tok)
				}
			}
		})
	}
	for _, tc := range []struct {
		maxAttempts, failures int
		wantOK                bool
	}{
		{maxAttempts: 3, failures: 2, wantOK: true},
		{maxAttempts: 2, failures: 2, wantOK: false},
	} {
		rec, front := newRecorder(t)
		rec.fail.Store(int32(tc.failures))
		p, err := New(t.Context(), Config{Endpoint: front, HostedZoneID: id, MaxAttempts: tc.maxAttempts})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.AppendRecords(t.Context(), zone, challenge(fmt.Sprint("retry", tc.maxAttempts)))
		if (err == nil) != tc.wantOK {
			t.Errorf("max_retries %d, %d failures: AppendRecords = %v; want success %v", tc.maxAttempts, tc.failures, err, tc.wantOK)
		}
		if !tc.wantOK && rec.seen.Load() != int32(tc.maxAttempts) {
			t.Errorf("max_retries %d: %d attempts; want %d", tc.maxAttempts, rec.seen.Load(), tc.maxAttempts)
		}
	}
}

package membership

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// TestEC2InstancesTags: Instances returns the running tagged instances
// the SDK created, sorted by id, with their addresses, zones and tags,
// across pages.
func TestEC2InstancesTags(t *testing.T) {
	needMoto(t)
	f := makeFleet(t)
	p, err := NewEC2(tetherEC2(), EC2Config{Tags: []string{"tether-cluster=" + f.tagValue}, MaxResults: 5, Port: 8009})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Instances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for i, inst := range got {
		if !strings.HasPrefix(inst.ID, "i-") || inst.Zone == "" || inst.Tags["tether-cluster"] != f.tagValue {
			t.Errorf("instance %+v: want an i- id, a zone, tagged tether-cluster=%s", inst, f.tagValue)
		}
		if i > 0 && got[i-1].ID >= inst.ID {
			t.Errorf("instances not sorted by id: %s before %s", got[i-1].ID, inst.ID)
		}
		addrs = append(addrs, inst.Addr)
	}
	slices.Sort(addrs)
	if want := withPort(f.tagged, "8009"); !slices.Equal(addrs, want) {
		t.Errorf("Instances() addresses = %v; want %v (the running tagged ones, not the stopped)", addrs, want)
	}
}

// TestEC2SignedRequests checks the query client's requests against moto
// with its IAM checks on: moto recomputes each SigV4 signature (botocore's
// signer, not the Go SDK's) and evaluates the caller's IAM policy. A user
// allowed only ec2:DescribeInstances can discover; a wrong secret and a
// user without the permission get EC2's errors, unretried.
func TestEC2SignedRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("AWS integration test: needs moto_server (skipped under -short)")
	}
	m, err := testpeers.StartMoto()
	if err != nil {
		t.Fatalf("moto_server is required unless -short: %v", err)
	}
	t.Cleanup(m.Stop)
	ctx := t.Context()
	admin := aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}
	allowed := iamUser(t, m.Direct, admin, "discovery", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}]}`)
	denied := iamUser(t, m.Direct, admin, "other", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)
	// From here on moto authenticates every request.
	resp, err := http.Post(m.Direct+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	client := func(c aws.Credentials) *EC2Client {
		return NewEC2Client(aws.Config{Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: c}}, m.Direct)
	}
	filter := []EC2Filter{{Name: "instance-state-name", Values: []string{"running"}}, {Name: "tag:tether-cluster", Values: []string{"a b&c=d/é"}}}
	if _, err := client(allowed).DescribeInstances(ctx, &DescribeInstancesInput{Filters: filter, MaxResults: 5}); err != nil {
		t.Errorf("DescribeInstances as a user allowed ec2:DescribeInstances: %v; want a signed request moto accepts", err)
	}
	for _, tc := range []struct {
		name      string
		creds     aws.Credentials
		wantCodes []string
	}{
		{name: "wrong secret", creds: aws.Credentials{AccessKeyID: allowed.AccessKeyID, SecretAccessKey: "wrong"}, wantCodes: []string{"SignatureDoesNotMatch", "AuthFailure"}},
		{name: "not allowed", creds: denied, wantCodes: []string{"UnauthorizedOperation", "AccessDenied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(tc.creds)
			c.attempts = 1
			_, err := c.DescribeInstances(ctx, &DescribeInstancesInput{Filters: filter})
			ee, ok := errors.AsType[*EC2Error](err)
			if !ok || !slices.Contains(tc.wantCodes, ee.Code) || ee.Status/100 != 4 {
				t.Fatalf("DescribeInstances = %v; want a 4xx EC2Error with code in %v", err, tc.wantCodes)
			}
			t.Logf("error: %v", err)
		})
	}
}

// iamUser creates an IAM user on moto with an inline policy and returns
// its access key, signing the IAM calls with the SDK's signer.
func iamUser(t *testing.T, endpoint string, admin aws.Credentials, name, policy string) aws.Credentials {
	t.Helper()
	iam := func(action string, params url.Values, out any) {
		t.Helper()
		params.Set("Action", action)
		params.Set("Version", "2010-05-08")
		body := []byte(params.Encode())
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint+"/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(t.Context(), admin, req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("iam %s: %v", action, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("iam %s: %s: %s", action, resp.Status, data)
		}
		if out != nil {
			if err := xml.Unmarshal(data, out); err != nil {
				t.Fatalf("iam %s: %v", action, err)
			}
		}
	}
	iam("CreateUser", url.Values{"UserName": {name}}, nil)
	iam("PutUserPolicy", url.Values{"UserName": {name}, "PolicyName": {name}, "PolicyDocument": {policy}}, nil)
	var key struct {
		ID     string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
		Secret string `xml:"CreateAccessKeyResult>AccessKey>SecretAccessKey"`
	}
	iam("CreateAccessKey", url.Values{"UserName": {name}}, &key)
	if key.ID == "" || key.Secret == "" {
		t.Fatalf("iam CreateAccessKey: no key in the answer")
	}
	return aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.Secret}
}

// TestEC2ClientRetries: throttling and server errors are retried with
// backoff, up to three attempts; a client error is not. EC2 is the only
// place these answers come from and moto never throttles, so a loopback
// server gives EC2's throttling answer here.
func TestEC2ClientRetries(t *testing.T) {
	const throttled = `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>`
	const denied = `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r-2</RequestID></Response>`
	const page = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-3</requestId><reservationSet><item><reservationId>r-0</reservationId><instancesSet><item><instanceId>i-1</instanceId><instanceState><code>16</code><name>running</name></instanceState><privateIpAddress>10.0.0.7</privateIpAddress><placement><availabilityZone>eu-west-1a</availabilityZone></placement><tagSet><item><key>jvmRoute</key><value>node-a</value></item></tagSet><groupSet><item><groupId>sg-1</groupId></item></groupSet></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`
	for _, tc := range []struct {
		name      string
		answers   []string // "503:body", "403:body" or "200:body", one per request
		wantCalls int32
		wantErr   string
	}{
		{name: "throttled twice", answers: []string{"503:" + throttled, "400:" + throttled, "200:" + page}, wantCalls: 3},
		{name: "throttled thrice", answers: []string{"503:" + throttled, "503:" + throttled, "503:" + throttled, "200:" + page}, wantCalls: 3, wantErr: "RequestLimitExceeded"},
		{name: "server error then ok", answers: []string{"500:oops", "200:" + page}, wantCalls: 2},
		{name: "denied", answers: []string{"403:" + denied, "200:" + page}, wantCalls: 1, wantErr: "UnauthorizedOperation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				if r.FormValue("Action") != "DescribeInstances" || r.FormValue("Version") != ec2APIVersion || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
					http.Error(w, "bad request", http.StatusBadRequest)
					return
				}
				code, body, _ := strings.Cut(tc.answers[n-1], ":")
				var status int
				fmt.Sscan(code, &status)
				w.WriteHeader(status)
				io.WriteString(w, body)
			}))
			defer srv.Close()
			c := NewEC2Client(testAWSConfig(), srv.URL)
			c.backoff = time.Millisecond
			out, err := c.DescribeInstances(t.Context(), &DescribeInstancesInput{})
			if calls.Load() != tc.wantCalls {
				t.Errorf("%d requests; want %d", calls.Load(), tc.wantCalls)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DescribeInstances = %v; want an error with %s", err, tc.wantErr)
				}
				return
			}
			want := []DescribedInstance{{ID: "i-1", State: "running", PrivateIP: "10.0.0.7", Zone: "eu-west-1a", Tags: map[string]string{"jvmRoute": "node-a"}}}
			if err != nil || len(out.Instances) != 1 || fmt.Sprint(out.Instances) != fmt.Sprint(want) {
				t.Fatalf("DescribeInstances = %+v, %v; want %+v", out, err, want)
			}
		})
	}
}

func TestEC2ClientEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, region, option, env, base, want string
	}{
		{name: "regional", region: "eu-west-1", want: "https://ec2.eu-west-1.amazonaws.com/"},
		{name: "china", region: "cn-north-1", want: "https://ec2.cn-north-1.amazonaws.com.cn/"},
		{name: "option first", region: "eu-west-1", option: "http://127.0.0.1:5000", env: "http://127.0.0.2:1", base: "http://127.0.0.3:1", want: "http://127.0.0.1:5000/"},
		{name: "service env", region: "eu-west-1", env: "http://127.0.0.2:1/", base: "http://127.0.0.3:1", want: "http://127.0.0.2:1/"},
		{name: "base endpoint", region: "eu-west-1", base: "http://127.0.0.3:1", want: "http://127.0.0.3:1/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_EC2", tc.env)
			cfg := aws.Config{Region: tc.region}
			if tc.base != "" {
				cfg.BaseEndpoint = aws.String(tc.base)
			}
			if got := NewEC2Client(cfg, tc.option).endpoint; got != tc.want {
				t.Errorf("NewEC2Client(%s, %q).endpoint = %q; want %q", tc.region, tc.option, got, tc.want)
			}
		})
	}
}

// FuzzEC2Answers: whatever an endpoint answers, decoding it (a page or an
// error) never panics, and every decoded instance keeps its tags.
func FuzzEC2Answers(f *testing.F) {
	f.Add([]byte(`<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>i-1</instanceId><instanceState><name>running</name></instanceState><privateIpAddress>10.0.0.7</privateIpAddress><placement><availabilityZone>eu-west-1a</availabilityZone></placement><tagSet><item><key>k</key><value>v</value></item><item><key>k</key><value>w</value></item></tagSet></item></instancesSet></item></reservationSet><nextToken>t</nextToken></DescribeInstancesResponse>`))
	f.Add([]byte(`<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors><RequestID>r</RequestID></Response>`))
	f.Add([]byte(`<a><b>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var er errorResponse
		_ = xml.Unmarshal(data, &er)
		var resp describeInstancesResponse
		if xml.Unmarshal(data, &resp) != nil {
			return
		}
		out := resp.output()
		n := 0
		for _, r := range resp.Reservations {
			for i, inst := range r.Instances {
				got := out.Instances[n]
				if got.ID != inst.ID || len(got.Tags) > len(inst.Tags) || (len(inst.Tags) > 0 && got.Tags == nil) {
					t.Fatalf("instance %d of a reservation: decoded %+v from %+v", i, got, inst)
				}
				n++
			}
		}
		if n != len(out.Instances) || out.NextToken != resp.NextToken {
			t.Fatalf("%d instances, next token %q; want %d, %q", len(out.Instances), out.NextToken, n, resp.NextToken)
		}
	})
}

package membership

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/internal/testpeers"
)

func testAWSConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	}
}

// ec2Client is the SDK's EC2 client, which the tests use to make fleets
// on moto: discovery's own query client (tetherEC2) is checked against
// what the SDK created.
func ec2Client() *ec2.Client {
	return ec2.NewFromConfig(testAWSConfig(), func(o *ec2.Options) { o.BaseEndpoint = aws.String(motoURL) })
}

// tetherEC2 is discovery's query client, on moto.
func tetherEC2() *EC2Client { return NewEC2Client(testAWSConfig(), motoURL) }

func s3Client() *s3.Client { return moto.S3() }

func randomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ec2Fleet is what TestEC2Discovery creates on moto.
type ec2Fleet struct {
	tagValue, sgID, sgName, vpcID string
	inSG, tagged                  []string // private IPs of running instances
}

func runInstance(t *testing.T, ctx context.Context, c *ec2.Client, ami string, tags map[string]string, sg string) ec2types.Instance {
	t.Helper()
	in := &ec2.RunInstancesInput{ImageId: aws.String(ami), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: ec2types.InstanceTypeT3Micro}
	if len(tags) > 0 {
		ts := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeInstance}
		for k, v := range tags {
			ts.Tags = append(ts.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		in.TagSpecifications = []ec2types.TagSpecification{ts}
	}
	if sg != "" {
		in.SecurityGroupIds = []string{sg}
	}
	out, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	return out.Instances[0]
}

func makeFleet(t *testing.T) ec2Fleet {
	t.Helper()
	ctx := t.Context()
	c := ec2Client()
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	if len(imgs.Images) == 0 {
		t.Fatal("DescribeImages: no images")
	}
	ami := aws.ToString(imgs.Images[0].ImageId)
	f := ec2Fleet{tagValue: "fleet-" + randomID(), sgName: "tether-" + randomID()}
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(f.sgName), Description: aws.String("tether test")})
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	f.sgID = aws.ToString(sg.GroupId)
	tag := map[string]string{"tether-cluster": f.tagValue}
	// One reservation each, so with MaxResults 5 the answer spans pages.
	for i := range 7 {
		sgID := ""
		if i < 3 {
			sgID = f.sgID
		}
		inst := runInstance(t, ctx, c, ami, tag, sgID)
		ip := aws.ToString(inst.PrivateIpAddress)
		f.tagged = append(f.tagged, ip)
		if sgID != "" {
			f.inSG = append(f.inSG, ip)
		}
		f.vpcID = aws.ToString(inst.VpcId)
	}
	var stopped []string
	for range 2 {
		stopped = append(stopped, aws.ToString(runInstance(t, ctx, c, ami, tag, "").InstanceId))
	}
	if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: stopped}); err != nil {
		t.Fatalf("StopInstances: %v", err)
	}
	for range 3 {
		runInstance(t, ctx, c, ami, nil, "")
	}
	runInstance(t, ctx, c, ami, map[string]string{"tether-cluster": "other-" + f.tagValue}, "")
	return f
}

func withPort(ips []string, port string) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip, port))
	}
	sort.Strings(out)
	return out
}

func TestEC2Discovery(t *testing.T) {
	needMoto(t)
	f := makeFleet(t)
	tag := "tether-cluster=" + f.tagValue
	for _, tc := range []struct {
		name string
		cfg  EC2Config
		want []string
	}{
		{name: "tag", cfg: EC2Config{Tags: []string{tag}, MaxResults: 5}, want: withPort(f.tagged, "7946")},
		{name: "tag and group id", cfg: EC2Config{Tags: []string{tag}, SecurityGroup: f.sgID, MaxResults: 5, Port: 7000}, want: withPort(f.inSG, "7000")},
		{name: "tag and group name", cfg: EC2Config{Tags: []string{tag}, SecurityGroup: f.sgName, MaxResults: 5}, want: withPort(f.inSG, "7946")},
		{name: "tag and vpc", cfg: EC2Config{Tags: []string{tag}, VPC: f.vpcID, MaxResults: 5}, want: withPort(f.tagged, "7946")},
		{name: "other vpc", cfg: EC2Config{Tags: []string{tag}, VPC: "vpc-00000000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pages atomic.Int32
			p, err := NewEC2(countingEC2{tetherEC2(), &pages}, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Addrs(t.Context())
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("Addrs() = %v, %v; want %v", got, err, tc.want)
			}
			t.Logf("%d addresses in %d pages", len(got), pages.Load())
			if tc.cfg.MaxResults == 5 && len(tc.want) > 5 && pages.Load() < 2 {
				t.Errorf("answer came in %d page(s); want several with MaxResults 5", pages.Load())
			}
		})
	}

	t.Run("public address", func(t *testing.T) {
		p, _ := NewEC2(tetherEC2(), EC2Config{Tags: []string{tag}, Public: true})
		got, err := p.Addrs(t.Context())
		if err != nil || len(got) != len(f.tagged) || slices.Equal(got, withPort(f.tagged, "7946")) {
			t.Errorf("Addrs() = %v, %v; want %d public addresses, not the private ones", got, err, len(f.tagged))
		}
	})

	t.Run("tag key only", func(t *testing.T) {
		p, _ := NewEC2(tetherEC2(), EC2Config{Tags: []string{"tether-cluster"}})
		got, err := p.Addrs(t.Context())
		for _, a := range withPort(f.tagged, "7946") {
			if !slices.Contains(got, a) {
				t.Errorf("Addrs() = %v, %v; want it to include %s", got, err, a)
			}
		}
	})

	t.Run("from spec with assume role", func(t *testing.T) {
		p, err := NewProvider(t.Context(), DiscoverSpec{Kind: "ec2", Options: map[string][]string{
			"tag": {tag}, "security_group": {f.sgID}, "port": {"7946"}, "max_results": {"5"},
			"endpoint": {motoURL}, "region": {"us-east-1"},
			"assume_role": {"arn:aws:iam::123456789012:role/tether-discovery"}, "external_id": {"x"},
		}}, zerolog.New(t.Output()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Addrs(t.Context())
		if want := withPort(f.inSG, "7946"); err != nil || !slices.Equal(got, want) {
			t.Errorf("Addrs() = %v, %v; want %v", got, err, want)
		}
	})

	t.Run("keeps last good answer", func(t *testing.T) {
		fl := &flakyEC2{real: tetherEC2()}
		p, _ := NewEC2(fl, EC2Config{Tags: []string{tag}})
		good, err := p.Addrs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		fl.fail.Store(true)
		got, err := p.Addrs(t.Context())
		if err == nil || !slices.Equal(got, good) || !strings.Contains(err.Error(), "tag:tether-cluster") {
			t.Errorf("Addrs() on failure = %v, %v; want last good %v and an error naming the filters", got, err, good)
		}
		t.Logf("error: %v", err)
	})
}

// countingEC2 counts DescribeInstances pages.
type countingEC2 struct {
	EC2API
	n *atomic.Int32
}

func (c countingEC2) DescribeInstances(ctx context.Context, in *DescribeInstancesInput) (*DescribeInstancesOutput, error) {
	c.n.Add(1)
	return c.EC2API.DescribeInstances(ctx, in)
}

// flakyEC2 fails on demand.
type flakyEC2 struct {
	real EC2API
	fail atomic.Bool
}

func (f *flakyEC2) DescribeInstances(ctx context.Context, in *DescribeInstancesInput) (*DescribeInstancesOutput, error) {
	if f.fail.Load() {
		return nil, errors.New("injected outage")
	}
	return f.real.DescribeInstances(ctx, in)
}

func makeBucket(t *testing.T) string {
	t.Helper()
	b := "tether-" + randomID()
	if _, err := s3Client().CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	return b
}

func newS3(t *testing.T, bucket string, ttl time.Duration) *S3 {
	t.Helper()
	p, err := NewS3(s3Client(), S3Config{Bucket: bucket, Prefix: "members/", TTL: ttl, Log: zerolog.New(t.Output())})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func objectExists(t *testing.T, bucket, key string) (string, bool) {
	t.Helper()
	out, err := s3Client().HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if httpStatus(err) == http.StatusNotFound {
		return "", false
	}
	if err != nil {
		t.Fatalf("HeadObject %s: %v", key, err)
	}
	return aws.ToString(out.ETag), true
}

// TestMotoConditionalWrites records what moto supports of S3's conditional
// requests (If-None-Match, If-Match), which the registry relies on.
func TestMotoConditionalWrites(t *testing.T) {
	needMoto(t)
	ctx, c, bucket := t.Context(), s3Client(), makeBucket(t)
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("one")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("two"), IfNoneMatch: aws.String("*")})
	if httpStatus(err) != http.StatusPreconditionFailed {
		t.Errorf("PutObject If-None-Match * on an existing key = %v; want 412", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("two"), IfMatch: aws.String(`"0000"`)})
	if httpStatus(err) != http.StatusPreconditionFailed {
		t.Errorf("PutObject If-Match wrong ETag = %v; want 412", err)
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), IfMatch: aws.String(`"0000"`)})
	if httpStatus(err) != http.StatusPreconditionFailed {
		t.Errorf("DeleteObject If-Match wrong ETag = %v; want 412", err)
	}
	if _, ok := objectExists(t, bucket, "k"); !ok {
		t.Fatalf("object deleted despite a failed If-Match")
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), IfMatch: put.ETag}); err != nil {
		t.Errorf("DeleteObject If-Match own ETag = %v; want success", err)
	}
	if _, ok := objectExists(t, bucket, "k"); ok {
		t.Errorf("object still there after a matching conditional delete")
	}
}

func TestS3Registry(t *testing.T) {
	needMoto(t)
	bucket := makeBucket(t)
	ctx := t.Context()
	a, b := newS3(t, bucket, 2*time.Second), newS3(t, bucket, 2*time.Second)
	if err := a.Announce(ctx, "node-a", "10.0.0.1:7946"); err != nil {
		t.Fatal(err)
	}
	if err := b.Announce(ctx, "node-b", "10.0.0.2:7946"); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1:7946", "10.0.0.2:7946"}
	for _, p := range []*S3{a, b} {
		if got, err := p.Addrs(ctx); err != nil || !slices.Equal(got, want) {
			t.Errorf("Addrs() = %v, %v; want %v", got, err, want)
		}
	}

	t.Run("stale entry ignored and collected", func(t *testing.T) {
		ghost := newS3(t, bucket, 2*time.Second)
		if err := ghost.Announce(ctx, "ghost", "10.0.0.9:7946"); err != nil {
			t.Fatal(err)
		}
		// The ghost crashed: it never rewrites. a and b keep announcing.
		testpeers.WaitUntil(t, 8*time.Second, "ghost collected", func() bool {
			a.Announce(ctx, "node-a", "10.0.0.1:7946")
			b.Announce(ctx, "node-b", "10.0.0.2:7946")
			got, err := a.Addrs(ctx)
			_, exists := objectExists(t, bucket, "members/ghost")
			return err == nil && slices.Equal(got, want) && !exists
		})
	})

	t.Run("leaving node removes only its own entry", func(t *testing.T) {
		first := newS3(t, bucket, time.Minute)
		if err := first.Announce(ctx, "node-x", "10.0.0.5:7946"); err != nil {
			t.Fatal(err)
		}
		// A successor takes the name over before the first one leaves.
		successor := newS3(t, bucket, time.Minute)
		if err := successor.Announce(ctx, "node-x", "10.0.0.6:7946"); err != nil {
			t.Fatal(err)
		}
		if err := first.Withdraw(ctx); err != nil {
			t.Fatalf("Withdraw() = %v", err)
		}
		if _, ok := objectExists(t, bucket, "members/node-x"); !ok {
			t.Fatalf("the successor's entry was deleted by its predecessor's Withdraw")
		}
		if err := successor.Withdraw(ctx); err != nil {
			t.Fatalf("Withdraw() = %v", err)
		}
		if _, ok := objectExists(t, bucket, "members/node-x"); ok {
			t.Errorf("entry still there after its writer's Withdraw")
		}
	})
}

// TestS3ClusterFormation: two members that know only the bucket find each
// other, and a graceful leave removes the leaver's entry.
func TestS3ClusterFormation(t *testing.T) {
	needMoto(t)
	bucket := makeBucket(t)
	spec := DiscoverSpec{Kind: "s3", Options: map[string][]string{
		"bucket": {bucket}, "prefix": {"c1/"}, "ttl": {"30s"}, "endpoint": {motoURL}, "path_style": {"true"}, "region": {"us-east-1"},
	}}
	provider := func(t *testing.T) Provider {
		p, err := NewProvider(t.Context(), spec, zerolog.New(t.Output()))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	fast := func(cfg *Config) {
		cfg.RejoinInterval = 300 * time.Millisecond
		cfg.Providers = []Provider{provider(t)}
	}
	a := startNode(t, "a", fast)
	b := startNode(t, "b", fast)
	d := testpeers.WaitUntil(t, 10*time.Second, "members find each other through S3", sees([]string{"a", "b"}, a, b))
	t.Logf("converged through S3 in %v", d)
	if _, ok := objectExists(t, bucket, "c1/b"); !ok {
		t.Fatalf("b's registry entry missing")
	}
	b.leave()
	if _, ok := objectExists(t, bucket, "c1/b"); ok {
		t.Errorf("b's registry entry still there after a graceful leave")
	}
	if _, ok := objectExists(t, bucket, "c1/a"); !ok {
		t.Errorf("a's registry entry removed by b's leave")
	}
}

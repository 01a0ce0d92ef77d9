package membership

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// This file is a small client for the one EC2 call discovery makes,
// DescribeInstances, on EC2's Query API (form-encoded POST, XML answer,
// Signature Version 4). It replaces aws-sdk-go-v2/service/ec2, which is
// generated for all of EC2's ~700 operations: linking it for this one call
// cost about 19 MB of binary and most of a cold build's time and memory.
// Credentials, region and the HTTP client still come from the SDK's
// aws.Config (the default chain, AssumeRole), and requests are signed by
// the SDK's own signer.

// ec2APIVersion is the version of EC2's Query API this client speaks (the
// current one; EC2 has not changed it since 2016).
const ec2APIVersion = "2016-11-15"

// EC2API is the EC2 call discovery makes. *EC2Client implements it against
// EC2 (or an EC2-compatible endpoint such as moto_server); tests wrap it to
// count pages or inject failures. DescribeInstances may block on I/O,
// honours ctx, and is safe for concurrent use.
type EC2API interface {
	DescribeInstances(ctx context.Context, in *DescribeInstancesInput) (*DescribeInstancesOutput, error)
}

// EC2Filter is one DescribeInstances filter: an instance matches when its
// attribute Name has one of Values ("tag:KEY", "tag-key",
// "instance-state-name", "vpc-id", "instance.group-id", …).
type EC2Filter struct {
	Name   string
	Values []string
}

// DescribeInstancesInput is one page's request.
type DescribeInstancesInput struct {
	// Filters must all match.
	Filters []EC2Filter
	// MaxResults is the page size (5–1000); 0 leaves it to EC2.
	MaxResults int32
	// NextToken continues from the page that returned it; "" is the first.
	NextToken string
}

// DescribeInstancesOutput is one page of the answer.
type DescribeInstancesOutput struct {
	// Instances of every reservation on the page, in EC2's order.
	Instances []DescribedInstance
	// NextToken asks for the next page; "" on the last one.
	NextToken string
}

// DescribedInstance is what discovery reads of an instance in a
// DescribeInstances answer.
type DescribedInstance struct {
	// ID is the instance id (i-…).
	ID string
	// State is the state name: pending, running, stopping, stopped,
	// shutting-down or terminated.
	State string
	// PrivateIP and PublicIP are the primary IPv4 addresses; "" when the
	// instance has none.
	PrivateIP, PublicIP string
	// Zone is the availability zone.
	Zone string
	// Tags are the instance's tags, key to value.
	Tags map[string]string
}

// EC2Error is an error answer from EC2 (or a non-XML answer with an error
// status).
type EC2Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is EC2's error code (UnauthorizedOperation,
	// RequestLimitExceeded, …); "" when the body had none.
	Code, Message, RequestID string
}

func (e *EC2Error) Error() string {
	s := fmt.Sprintf("ec2: %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

// retryable reports whether the same request may succeed later: EC2's
// throttling and server-side errors.
func (e *EC2Error) retryable() bool {
	switch e.Code {
	case "RequestLimitExceeded", "Throttling", "ThrottlingException", "InternalError", "Unavailable", "ServiceUnavailable":
		return true
	}
	return e.Status >= 500
}

// EC2Client calls EC2's Query API with the credentials, region and HTTP
// client of an aws.Config. It is safe for concurrent use.
type EC2Client struct {
	cfg      aws.Config
	endpoint string
	signer   *v4.Signer
	// attempts is how many times a throttled, failed-on-the-server or
	// unanswered request is sent (the SDK's standard retryer also makes 3).
	attempts int
	// backoff is the wait before the first retry; it doubles, with jitter.
	backoff time.Duration
}

var _ EC2API = (*EC2Client)(nil)

// NewEC2Client returns a client for cfg's region. endpoint overrides the
// URL (an EC2-compatible endpoint such as moto_server); "" takes, in
// order, $AWS_ENDPOINT_URL_EC2, cfg.BaseEndpoint ($AWS_ENDPOINT_URL), then
// EC2's regional endpoint, https://ec2.REGION.amazonaws.com (.com.cn in
// the China regions).
func NewEC2Client(cfg aws.Config, endpoint string) *EC2Client {
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL_EC2")
	}
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint
	}
	if endpoint == "" {
		suffix := "amazonaws.com"
		if strings.HasPrefix(cfg.Region, "cn-") {
			suffix = "amazonaws.com.cn"
		}
		endpoint = "https://ec2." + cfg.Region + "." + suffix
	}
	return &EC2Client{cfg: cfg, endpoint: strings.TrimRight(endpoint, "/") + "/", signer: v4.NewSigner(), attempts: 3, backoff: 200 * time.Millisecond}
}

// DescribeInstances asks for one page of instances.
func (c *EC2Client) DescribeInstances(ctx context.Context, in *DescribeInstancesInput) (*DescribeInstancesOutput, error) {
	form := url.Values{}
	for i, f := range in.Filters {
		p := "Filter." + strconv.Itoa(i+1) + "."
		form.Set(p+"Name", f.Name)
		for j, v := range f.Values {
			form.Set(p+"Value."+strconv.Itoa(j+1), v)
		}
	}
	if in.MaxResults != 0 {
		form.Set("MaxResults", strconv.Itoa(int(in.MaxResults)))
	}
	if in.NextToken != "" {
		form.Set("NextToken", in.NextToken)
	}
	var resp describeInstancesResponse
	if err := c.call(ctx, "DescribeInstances", form, &resp); err != nil {
		return nil, err
	}
	return resp.output(), nil
}

// output is the answer as DescribeInstancesOutput: every reservation's
// instances, with their tags as a map (the last of a repeated key wins).
func (resp *describeInstancesResponse) output() *DescribeInstancesOutput {
	out := &DescribeInstancesOutput{NextToken: resp.NextToken}
	for _, r := range resp.Reservations {
		for _, i := range r.Instances {
			inst := DescribedInstance{ID: i.ID, State: i.State, PrivateIP: i.PrivateIP, PublicIP: i.PublicIP, Zone: i.Zone}
			if len(i.Tags) > 0 {
				inst.Tags = make(map[string]string, len(i.Tags))
				for _, t := range i.Tags {
					inst.Tags[t.Key] = t.Value
				}
			}
			out.Instances = append(out.Instances, inst)
		}
	}
	return out
}

// describeInstancesResponse is the part of DescribeInstances' XML answer
// that discovery reads.
type describeInstancesResponse struct {
	Reservations []struct {
		Instances []struct {
			ID        string `xml:"instanceId"`
			State     string `xml:"instanceState>name"`
			PrivateIP string `xml:"privateIpAddress"`
			PublicIP  string `xml:"ipAddress"`
			Zone      string `xml:"placement>availabilityZone"`
			Tags      []struct {
				Key   string `xml:"key"`
				Value string `xml:"value"`
			} `xml:"tagSet>item"`
		} `xml:"instancesSet>item"`
	} `xml:"reservationSet>item"`
	NextToken string `xml:"nextToken"`
}

// errorResponse is EC2's error answer.
type errorResponse struct {
	Errors []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Errors>Error"`
	RequestID string `xml:"RequestID"`
}

// maxAnswer bounds what is read of one answer: a DescribeInstances page of
// 1000 instances is a few MB.
const maxAnswer = 64 << 20

// call sends action with params and decodes the XML answer into out,
// retrying throttling, server errors and transport errors.
func (c *EC2Client) call(ctx context.Context, action string, params url.Values, out any) error {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("Action", action)
	form.Set("Version", ec2APIVersion)
	body := []byte(form.Encode())
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	wait := c.backoff
	var err error
	for attempt := 1; ; attempt++ {
		err = c.send(ctx, body, payloadHash, out)
		var ee *EC2Error
		retry := err != nil && ctx.Err() == nil && (!errors.As(err, &ee) || ee.retryable())
		if !retry || attempt >= c.attempts {
			return err
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
}

// send makes one signed request.
func (c *EC2Client) send(ctx context.Context, body []byte, payloadHash string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if c.cfg.Credentials == nil {
		return errors.New("ec2: no credentials")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("ec2: credentials: %w", err)
	}
	if err := c.signer.SignHTTP(ctx, creds, req, payloadHash, "ec2", c.cfg.Region, time.Now().UTC()); err != nil {
		return fmt.Errorf("ec2: sign: %w", err)
	}
	var hc aws.HTTPClient = http.DefaultClient
	if c.cfg.HTTPClient != nil {
		hc = c.cfg.HTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("ec2: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		e := &EC2Error{Status: resp.StatusCode}
		var er errorResponse
		if xml.Unmarshal(data, &er) == nil {
			e.RequestID = er.RequestID
			if len(er.Errors) > 0 {
				e.Code, e.Message = er.Errors[0].Code, er.Errors[0].Message
			}
		}
		return e
	}
	if err := xml.Unmarshal(data, out); err != nil {
		return fmt.Errorf("ec2: decode answer: %w", err)
	}
	return nil
}

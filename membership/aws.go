package membership

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/rs/zerolog"
)

// awsOptions are the options every AWS provider takes.
var awsOptions = []string{"region", "endpoint", "assume_role", "external_id", "session_name"}

// loadAWS builds an aws.Config from a spec's options: the SDK's default
// credential chain (environment, web identity, shared files, container and
// instance roles), the region (the option, else the environment, else the
// instance metadata), and, with assume_role, credentials from STS AssumeRole
// refreshed through a cache. It also returns the endpoint override.
func loadAWS(ctx context.Context, o map[string][]string, log zerolog.Logger) (aws.Config, string, error) {
	get := func(k string) string { s, _ := opt(o, k); return s }
	for _, k := range awsOptions {
		if _, err := opt(o, k); err != nil {
			return aws.Config{}, "", err
		}
	}
	lo := []func(*config.LoadOptions) error{config.WithLogger(newSDKLogger(log))}
	if r := get("region"); r != "" {
		lo = append(lo, config.WithRegion(r))
	} else {
		lo = append(lo, config.WithEC2IMDSRegion())
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return aws.Config{}, "", fmt.Errorf("load aws config: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, "", errors.New("aws region: set the region option or AWS_REGION (no instance metadata)")
	}
	endpoint := get("endpoint")
	if role := get("assume_role"); role != "" {
		client := sts.NewFromConfig(cfg, func(so *sts.Options) {
			if endpoint != "" {
				so.BaseEndpoint = aws.String(endpoint)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, role, func(ao *stscreds.AssumeRoleOptions) {
			if id := get("external_id"); id != "" {
				ao.ExternalID = aws.String(id)
			}
			if n := get("session_name"); n != "" {
				ao.RoleSessionName = n
			}
		}))
	}
	return cfg, endpoint, nil
}

// httpStatus returns the HTTP status of an AWS API error, or 0.
func httpStatus(err error) int {
	if re, ok := errors.AsType[*awshttp.ResponseError](err); ok {
		return re.HTTPStatusCode()
	}
	return 0
}

// imdsLocalIPv4 asks the EC2 instance metadata service (IMDSv2) for this
// instance's private IPv4 address, for Config.Advertise "auto".
func imdsLocalIPv4(ctx context.Context, endpoint string) (string, error) {
	client := imds.New(imds.Options{Endpoint: endpoint})
	out, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: "local-ipv4"})
	if err != nil {
		return "", fmt.Errorf("instance metadata local-ipv4: %w", err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, 64))
	if err != nil {
		return "", fmt.Errorf("instance metadata local-ipv4: %w", err)
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(string(b)))
	if err != nil {
		return "", fmt.Errorf("instance metadata local-ipv4 %q: %w", b, err)
	}
	return ip.String(), nil
}

package membership

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rs/zerolog"
)

var s3Options = append([]string{"bucket", "prefix", "ttl", "path_style"}, awsOptions...)

// S3Config configures an S3 registry.
type S3Config struct {
	// Bucket holds the registry. Required.
	Bucket string
	// Prefix starts every entry's key: the entry of member n is
	// Prefix+n. Default "tether/members/". Clusters sharing a bucket need
	// different prefixes.
	Prefix string
	// TTL is the staleness bound: an entry not rewritten for TTL (by S3's
	// LastModified, so writers' clocks do not matter) is ignored and
	// deleted. Entries are rewritten every TTL/3, so TTL should be at least
	// 3× the cluster's RejoinInterval, which paces Announce. Default 90s.
	TTL time.Duration
	// Log receives collection events; the zero value discards them.
	Log zerolog.Logger
}

// S3 is a member registry in a bucket, S3_PING done better: one object per
// member (no coordinator files), with its address and a heartbeat, rewritten
// periodically; stale entries are skipped and collected by whoever sees
// them; a leaving member deletes only the object it wrote itself.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string
	ttl    time.Duration
	log    zerolog.Logger
	last   lastGood
	now    func() time.Time

	// mu guards what this node wrote last.
	mu       sync.Mutex
	name     string // member name announced, "" before the first Announce
	addr     string
	etag     string // ETag of our last write; Withdraw deletes only this
	written  time.Time
	instance string // random per process: makes every write's ETag unique
}

// s3Entry is the JSON body of a registry object.
type s3Entry struct {
	Name      string    `json:"name"`
	Addr      string    `json:"addr"`
	Heartbeat time.Time `json:"heartbeat"`
	Instance  string    `json:"instance"`
}

// NewS3 returns an S3 registry on client.
func NewS3(client *s3.Client, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("discover s3: bucket is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "tether/members/"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 90 * time.Second
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("discover s3: ttl %v: want at least 1s", cfg.TTL)
	}
	id := make([]byte, 8)
	rand.Read(id)
	return &S3{client: client, bucket: cfg.Bucket, prefix: cfg.Prefix, ttl: cfg.TTL,
		log: cfg.Log, now: time.Now, instance: hex.EncodeToString(id)}, nil
}

func newS3FromSpec(ctx context.Context, spec DiscoverSpec, log zerolog.Logger) (*S3, error) {
	awsCfg, endpoint, err := loadAWS(ctx, spec.Options, log)
	if err != nil {
		return nil, fmt.Errorf("discover s3: %w", err)
	}
	c := S3Config{Log: log}
	for _, f := range []struct {
		key string
		dst *string
	}{{"bucket", &c.Bucket}, {"prefix", &c.Prefix}} {
		if *f.dst, err = opt(spec.Options, f.key); err != nil {
			return nil, fmt.Errorf("discover s3: %w", err)
		}
	}
	if s, _ := opt(spec.Options, "ttl"); s != "" {
		if c.TTL, err = time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("discover s3: ttl: %w", err)
		}
	}
	pathStyle := false
	switch s, _ := opt(spec.Options, "path_style"); s {
	case "", "false", "off":
	case "true", "on":
		pathStyle = true
	default:
		return nil, fmt.Errorf("discover s3: path_style %q: want true or false", s)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
	})
	return NewS3(client, c)
}

func (s *S3) key(name string) string { return s.prefix + name }

// Announce writes this member's entry when it is missing, its address
// changed, or it is older than TTL/3.
func (s *S3) Announce(ctx context.Context, name, addr string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("s3 announce: member name %q cannot be an object key", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.name == name && s.addr == addr && s.etag != "" && now.Sub(s.written) < s.ttl/3 {
		return nil
	}
	body, err := json.Marshal(s3Entry{Name: name, Addr: addr, Heartbeat: now.UTC(), Instance: s.instance})
	if err != nil {
		return fmt.Errorf("s3 announce: %w", err)
	}
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(s.key(name)),
		Body:        bytes.NewReader(body),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("s3 announce: put s3://%s/%s: %w", s.bucket, s.key(name), err)
	}
	s.name, s.addr, s.etag, s.written = name, addr, aws.ToString(out.ETag), now
	return nil
}

// Withdraw deletes this member's entry if it is still the one this process
// wrote (DeleteObject If-Match on its ETag): a successor that already
// re-registered the name keeps its entry.
func (s *S3) Withdraw(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.etag == "" {
		return nil
	}
	key := s.key(s.name)
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket:  aws.String(s.bucket),
		Key:     aws.String(key),
		IfMatch: aws.String(s.etag),
	})
	switch st := httpStatus(err); {
	case err == nil, st == http.StatusNotFound:
	case st == http.StatusPreconditionFailed:
		s.log.Info().Str("key", key).Msg("registry entry rewritten by a successor; left in place")
	default:
		return fmt.Errorf("s3 withdraw: delete s3://%s/%s: %w", s.bucket, key, err)
	}
	s.etag = ""
	return nil
}

// Addrs lists the registry (every page), skips and deletes entries older
// than TTL, and reads the fresh ones.
func (s *S3) Addrs(ctx context.Context) ([]string, error) {
	out, err := s.list(ctx)
	return s.last.answer(out, err, fmt.Sprintf("s3 discovery in s3://%s/%s", s.bucket, s.prefix))
}

func (s *S3) list(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	self := s.name
	s.mu.Unlock()
	now := s.now()
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix),
	})
	var (
		out  []string
		errs []error
	)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			name := strings.TrimPrefix(key, s.prefix)
			if name == "" || strings.Contains(name, "/") {
				continue // not an entry of ours
			}
			if age := now.Sub(aws.ToTime(o.LastModified)); age > s.ttl && name != self {
				if err := s.collect(ctx, key, aws.ToString(o.ETag), age); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			e, err := s.read(ctx, key)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, e.Addr)
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(errs) > 0 {
		s.log.Warn().Err(errors.Join(errs...)).Msg("some registry entries unreadable")
	}
	return out, nil
}

// collect deletes a stale entry, but only the version listed (If-Match), so
// an entry its owner rewrote meanwhile survives.
func (s *S3) collect(ctx context.Context, key, etag string, age time.Duration) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket:  aws.String(s.bucket),
		Key:     aws.String(key),
		IfMatch: aws.String(etag),
	})
	switch st := httpStatus(err); {
	case err == nil:
		s.log.Info().Str("key", key).Dur("age", age).Msg("stale registry entry collected")
	case st == http.StatusNotFound, st == http.StatusPreconditionFailed:
		// someone else collected it, or its owner is back
	default:
		return fmt.Errorf("delete stale %s: %w", key, err)
	}
	return nil
}

func (s *S3) read(ctx context.Context, key string) (s3Entry, error) {
	var e s3Entry
	obj, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return e, fmt.Errorf("get %s: %w", key, err)
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(io.LimitReader(obj.Body, 4096))
	if err != nil {
		return e, fmt.Errorf("get %s: %w", key, err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("entry %s: %w", key, err)
	}
	if _, port, err := net.SplitHostPort(e.Addr); err != nil || port == "" {
		return e, fmt.Errorf("entry %s: addr %q is not host:port", key, e.Addr)
	}
	return e, nil
}

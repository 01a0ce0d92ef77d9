// Package s3store is a certmagic.Storage on Amazon S3 (or any S3 API with
// conditional writes), so that every Tether instance of a fleet shares one
// set of certificates, ACME accounts, challenge tokens and locks.
//
// # Locks
//
// A lock is an object "<prefix>locks/<name>.lock" holding its owner and
// expiry. Lock creates it with If-None-Match: * (only one creator wins; S3
// answers the others 412). A holder renews its lease every third of
// LockTTL with If-Match on its own ETag, and Unlock deletes it with If-Match
// on that ETag, so a holder never renews or deletes a lock that someone
// else now holds. A lock whose expiry has passed (its holder crashed or
// lost the network) is taken over with If-Match on the stale ETag: of
// several contenders only one succeeds. Expiry is wall-clock time, so
// instances' clocks must agree to well within LockTTL (NTP does). S3's
// 409 ConditionalRequestConflict is retried.
//
// # Concurrency
//
// A Storage is safe for concurrent use. Each held lock has one renewal
// goroutine, stopped by Unlock.
package s3store

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/caddyserver/certmagic"
	"github.com/rs/zerolog"
)

// Config configures a Storage.
type Config struct {
	// Bucket is required.
	Bucket string
	// Prefix is prepended to every key ("tether/certs/"); a missing
	// trailing slash is added. Default "": the bucket's root.
	Prefix string
	// Region of the bucket; "" takes the SDK's default chain, then
	// us-east-1.
	Region string
	// Endpoint is an S3-compatible endpoint URL (path-style addressing);
	// "" for AWS.
	Endpoint string
	// LockTTL is how long a lock lives without renewal before others may
	// take it over. Default 60s (S3 latency and clock skew stay far below).
	LockTTL time.Duration
	// LockPoll is how often a waiting Lock looks again. Default 1s,
	// jittered by up to a quarter.
	LockPoll time.Duration
	// Owner names this instance in lock objects; default hostname and a
	// random suffix.
	Owner string
	// Client, if set, is used instead of one built from the fields above
	// (tests).
	Client *s3.Client
	// Logger receives lock takeovers and lost leases; zero value discards.
	Logger zerolog.Logger
}

// Storage implements certmagic.Storage on S3.
type Storage struct {
	c      *s3.Client
	bucket string
	prefix string
	ttl    time.Duration
	poll   time.Duration
	owner  string
	log    zerolog.Logger

	// mu guards held.
	mu   sync.Mutex
	held map[string]*heldLock
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
)

// heldLock is a lock this Storage holds.
type heldLock struct {
	key  string
	stop chan struct{} // closed by Unlock
	done chan struct{} // closed when the renewer has returned

	mu   sync.Mutex // guards etag
	etag string
}

// lockBody is the content of a lock object.
type lockBody struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// New returns a Storage for cfg. It does not contact S3.
func New(ctx context.Context, cfg Config) (*Storage, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3store: bucket is required")
	}
	c := cfg.Client
	if c == nil {
		var opts []func(*awsconfig.LoadOptions) error
		if cfg.Region != "" {
			opts = append(opts, awsconfig.WithRegion(cfg.Region))
		}
		ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("s3store: aws config: %w", err)
		}
		if ac.Region == "" {
			ac.Region = "us-east-1"
		}
		c = s3.NewFromConfig(ac, func(o *s3.Options) {
			if cfg.Endpoint != "" {
				o.BaseEndpoint = aws.String(cfg.Endpoint)
				o.UsePathStyle = true
			}
		})
	}
	s := &Storage{
		c:      c,
		bucket: cfg.Bucket,
		prefix: cfg.Prefix,
		ttl:    cfg.LockTTL,
		poll:   cfg.LockPoll,
		owner:  cfg.Owner,
		log:    cfg.Logger,
		held:   map[string]*heldLock{},
	}
	if s.prefix != "" && !strings.HasSuffix(s.prefix, "/") {
		s.prefix += "/"
	}
	if s.ttl <= 0 {
		s.ttl = 60 * time.Second
	}
	if s.poll <= 0 {
		s.poll = time.Second
	}
	if s.owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = crand.Read(b[:])
		s.owner = host + "-" + hex.EncodeToString(b[:])
	}
	return s, nil
}

func (s *Storage) key(k string) string { return s.prefix + strings.TrimPrefix(k, "/") }

func (s *Storage) lockKey(name string) string { return s.key("locks/" + name + ".lock") }

// Store puts value at key.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	_, err := s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: aws.String(s.key(key)), Body: bytes.NewReader(value),
	})
	if err != nil {
		return fmt.Errorf("s3store: put %s: %w", key, err)
	}
	return nil
}

// Load returns the value at key, or an error wrapping fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(key))})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("s3store: %s: %w", key, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("s3store: get %s: %w", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("s3store: read %s: %w", key, err)
	}
	return b, nil
}

// Delete deletes key and every key below it ("key/..."). Deleting what
// does not exist is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(key))}); err != nil && !isNotFound(err) {
		return fmt.Errorf("s3store: delete %s: %w", key, err)
	}
	below, err := s.List(ctx, key, true)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, k := range below {
		if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(k))}); err != nil && !isNotFound(err) {
			return fmt.Errorf("s3store: delete %s: %w", k, err)
		}
	}
	return nil
}

// Exists reports whether key is an object or a prefix of objects.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	if _, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(key))}); err == nil {
		return true
	}
	return s.isDir(ctx, key)
}

func (s *Storage) isDir(ctx context.Context, key string) bool {
	out, err := s.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: &s.bucket, Prefix: aws.String(s.key(strings.TrimSuffix(key, "/") + "/")), MaxKeys: aws.Int32(1),
	})
	return err == nil && len(out.Contents) > 0
}

// List returns the keys below path: its direct children (files and
// "directories") or, if recursive, every object below it.
func (s *Storage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	prefix := s.prefix
	if p := strings.Trim(path, "/"); p != "" {
		prefix = s.key(p) + "/"
	}
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix}
	if !recursive {
		in.Delimiter = aws.String("/")
	}
	var keys []string
	for pg := s3.NewListObjectsV2Paginator(s.c, in); pg.HasMorePages(); {
		out, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3store: list %s: %w", path, err)
		}
		for _, o := range out.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), s.prefix))
		}
		for _, cp := range out.CommonPrefixes {
			keys = append(keys, strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), s.prefix), "/"))
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("s3store: list %s: %w", path, fs.ErrNotExist)
	}
	return keys, nil
}

// Stat describes key: an object, or a directory if it only prefixes some.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(key))})
	if err == nil {
		return certmagic.KeyInfo{
			Key: key, Modified: aws.ToTime(out.LastModified), Size: aws.ToInt64(out.ContentLength), IsTerminal: true,
		}, nil
	}
	if !isNotFound(err) {
		return certmagic.KeyInfo{}, fmt.Errorf("s3store: head %s: %w", key, err)
	}
	if s.isDir(ctx, key) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("s3store: %s: %w", key, fs.ErrNotExist)
}

// Lock blocks until this Storage holds the lock name, or ctx ends.
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if ok || err != nil {
			return err
		}
		wait := s.poll + rand.N(s.poll/4+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// TryLock takes the lock name if it is free or stale, without waiting.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	key := s.lockKey(name)
	for attempt := 0; ; attempt++ {
		etag, err := s.putLock(ctx, key, nil)
		if err == nil {
			s.hold(name, key, etag)
			return true, nil
		}
		switch {
		case isConflict(err) && attempt < 5:
			continue // a concurrent conditional write; S3 asks to retry
		case !isPrecondition(err) && !isConflict(err):
			return false, fmt.Errorf("s3store: lock %s: %w", name, err)
		}
		cur, curETag, err := s.readLock(ctx, key)
		if isNotFound(err) {
			if attempt < 5 {
				continue // released in between; try to create again
			}
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("s3store: lock %s: %w", name, err)
		}
		if time.Now().Before(cur.Expires) {
			return false, nil
		}
		etag, err = s.putLock(ctx, key, &curETag)
		if err == nil {
			s.log.Warn().Str("lock", name).Str("stale_owner", cur.Owner).Time("expired", cur.Expires).Msg("stale lock taken over")
			s.hold(name, key, etag)
			return true, nil
		}
		if isPrecondition(err) || isConflict(err) || isNotFound(err) {
			return false, nil // another contender took it over first
		}
		return false, fmt.Errorf("s3store: take over lock %s: %w", name, err)
	}
}

// putLock writes a fresh lock body: create-only when ifMatch is nil, else
// a compare-and-swap on *ifMatch. It returns the new ETag.
func (s *Storage) putLock(ctx context.Context, key string, ifMatch *string) (string, error) {
	return s.putLockTTL(ctx, key, ifMatch, s.ttl)
}

func (s *Storage) putLockTTL(ctx context.Context, key string, ifMatch *string, ttl time.Duration) (string, error) {
	body, err := json.Marshal(lockBody{Owner: s.owner, Expires: time.Now().Add(ttl).UTC()})
	if err != nil {
		return "", err
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body), ContentType: aws.String("application/json")}
	if ifMatch == nil {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = ifMatch
	}
	out, err := s.c.PutObject(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

func (s *Storage) readLock(ctx context.Context, key string) (lockBody, string, error) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return lockBody{}, "", err
	}
	defer out.Body.Close()
	var lb lockBody
	b, err := io.ReadAll(io.LimitReader(out.Body, 4096))
	if err != nil {
		return lockBody{}, "", err
	}
	if err := json.Unmarshal(b, &lb); err != nil {
		// Unreadable: treat as expired, so a corrupt lock cannot wedge
		// issuance forever; takeover still needs its exact ETag.
		lb = lockBody{Owner: "?"}
	}
	return lb, aws.ToString(out.ETag), nil
}

// hold records a taken lock and starts its renewer.
func (s *Storage) hold(name, key, etag string) {
	h := &heldLock{key: key, etag: etag, stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.held[name] = h
	s.mu.Unlock()
	go s.renew(name, h)
}

// renew extends h's lease every third of the TTL until Unlock stops it or
// the lease is lost (someone took the lock over: we were too slow). A
// renewal that fails for another reason (S3 slow or unreachable) is tried
// again after a tenth of the TTL, not a third, so that one slow request
// does not cost the lease.
func (s *Storage) renew(name string, h *heldLock) {
	defer close(h.done)
	t := time.NewTimer(s.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.ttl/3)
		h.mu.Lock()
		err := s.extend(ctx, h, s.ttl)
		h.mu.Unlock()
		cancel()
		switch {
		case err == nil:
			t.Reset(s.ttl / 3)
		case isPrecondition(err) || isNotFound(err):
			s.log.Error().Str("lock", name).Err(err).Msg("lock lease lost")
			return
		default:
			s.log.Warn().Str("lock", name).Err(err).Msg("lock lease not renewed; will retry")
			t.Reset(s.ttl / 10)
		}
	}
}

// RenewLockLease extends the lease of the held lock lockKey to lease from
// now (certmagic calls it during long operations).
func (s *Storage) RenewLockLease(ctx context.Context, lockKey string, lease time.Duration) error {
	s.mu.Lock()
	h := s.held[lockKey]
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("s3store: renew lock %s: not held", lockKey)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := s.extend(ctx, h, max(lease, s.ttl)); err != nil {
		return fmt.Errorf("s3store: renew lock %s: %w", lockKey, err)
	}
	return nil
}

// extend rewrites the held lock h with a lease of ttl from now, a
// compare-and-swap on its ETag. A renewal whose request timed out may still
// have landed, leaving an ETag this instance never saw: the swap then fails
// although the lock is still ours. So on a failed swap, when the object
// names this instance as its owner (owners are unique per instance, and
// an instance holds a name once), its ETag is adopted and the swap tried
// again. The caller holds h.mu.
func (s *Storage) extend(ctx context.Context, h *heldLock, ttl time.Duration) error {
	etag, err := s.putLockTTL(ctx, h.key, &h.etag, ttl)
	if isPrecondition(err) {
		if cur, curETag, rerr := s.readLock(ctx, h.key); rerr == nil && cur.Owner == s.owner {
			etag, err = s.putLockTTL(ctx, h.key, &curETag, ttl)
		}
	}
	if err == nil {
		h.etag = etag
	}
	return err
}

// Unlock releases the lock name, deleting its object only if it is still
// ours (If-Match on our ETag).
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("s3store: unlock %s: not held", name)
	}
	close(h.stop)
	<-h.done
	h.mu.Lock()
	etag := h.etag
	h.mu.Unlock()
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &h.key, IfMatch: &etag})
	if isPrecondition(err) {
		// A renewal of ours may have landed unseen (see extend).
		if cur, curETag, rerr := s.readLock(ctx, h.key); rerr == nil && cur.Owner == s.owner {
			_, err = s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &h.key, IfMatch: &curETag})
		}
	}
	if err != nil {
		if isPrecondition(err) || isNotFound(err) {
			return fmt.Errorf("s3store: unlock %s: taken over by another instance: %w", name, err)
		}
		return fmt.Errorf("s3store: unlock %s: %w", name, err)
	}
	return nil
}

func apiCode(err error) string {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return ae.ErrorCode()
	}
	return ""
}

func isNotFound(err error) bool {
	switch apiCode(err) {
	case "NoSuchKey", "NotFound", "404":
		return true
	}
	return false
}

func isPrecondition(err error) bool { return apiCode(err) == "PreconditionFailed" }

func isConflict(err error) bool { return apiCode(err) == "ConditionalRequestConflict" }

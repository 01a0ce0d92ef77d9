package s3store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// moto is the moto_server of this package's tests; nil under -short.
var moto *testpeers.Moto

// TestMain fails the run when moto_server cannot start: CI must run these
// tests.
func TestMain(m *testing.M) { testpeers.MotoMain(m, &moto, false) }

var bucketSeq atomic.Int64

// newStorage returns a Storage on a fresh bucket of moto.
func newStorage(t *testing.T, bucket string, ttl time.Duration, owner string) *Storage {
	t.Helper()
	if moto == nil {
		t.Skip("integration test (moto_server); skipped under -short")
	}
	s, err := New(t.Context(), Config{Bucket: bucket, Prefix: "tether/certs", Client: moto.S3(), LockTTL: ttl, LockPoll: 100 * time.Millisecond, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newBucket(t *testing.T) string {
	t.Helper()
	if moto == nil {
		t.Skip("integration test (moto_server); skipped under -short")
	}
	name := fmt.Sprintf("tether-test-%d-%d", os.Getpid(), bucketSeq.Add(1))
	if err := moto.CreateBucket(t.Context(), name); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return name
}

// TestMotoConditionalWrites checks that the S3 stand-in enforces what the
// locks rely on: If-None-Match on create, If-Match on overwrite and delete.
func TestMotoConditionalWrites(t *testing.T) {
	b := newBucket(t)
	c := moto.S3()
	ctx := t.Context()
	key := "k"
	put := func(in *s3.PutObjectInput) (*s3.PutObjectOutput, error) {
		in.Bucket, in.Key, in.Body = &b, &key, strings.NewReader("x")
		return c.PutObject(ctx, in)
	}
	first, err := put(&s3.PutObjectInput{IfNoneMatch: aws.String("*")})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := put(&s3.PutObjectInput{IfNoneMatch: aws.String("*")}); !isPrecondition(err) {
		t.Fatalf("second create-only put = %v; want PreconditionFailed", err)
	}
	if _, err := put(&s3.PutObjectInput{IfMatch: aws.String(`"0000"`)}); !isPrecondition(err) {
		t.Fatalf("put with a wrong If-Match = %v; want PreconditionFailed", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: &key, IfMatch: aws.String(`"0000"`)}); !isPrecondition(err) {
		t.Fatalf("delete with a wrong If-Match = %v; want PreconditionFailed", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: &key, IfMatch: first.ETag}); err != nil {
		t.Fatalf("delete with our If-Match: %v", err)
	}
}

func TestStorageContract(t *testing.T) {
	s := newStorage(t, newBucket(t), time.Minute, "a")
	ctx := t.Context()
	if _, err := s.Load(ctx, "certificates/x/x.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v; want fs.ErrNotExist", err)
	}
	for _, k := range []string{"certificates/ca/a.test/a.test.crt", "certificates/ca/a.test/a.test.key", "certificates/ca/b.test/b.test.crt", "acme/ca/users/x.json"} {
		if err := s.Store(ctx, k, []byte("v:"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Load(ctx, "certificates/ca/a.test/a.test.crt"); err != nil || string(got) != "v:certificates/ca/a.test/a.test.crt" {
		t.Fatalf("Load = %q, %v", got, err)
	}
	if !s.Exists(ctx, "certificates/ca/a.test") || !s.Exists(ctx, "acme/ca/users/x.json") || s.Exists(ctx, "nope") {
		t.Fatal("Exists: want true for a directory and a file, false for a missing key")
	}
	got, err := s.List(ctx, "certificates/ca", false)
	slices.Sort(got)
	if want := []string{"certificates/ca/a.test", "certificates/ca/b.test"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("List(non-recursive) = %q, %v; want %q", got, err, want)
	}
	got, err = s.List(ctx, "certificates", true)
	if err != nil || len(got) != 3 {
		t.Fatalf("List(recursive) = %q, %v; want 3 files", got, err)
	}
	ki, err := s.Stat(ctx, "certificates/ca/a.test/a.test.key")
	if err != nil || !ki.IsTerminal || ki.Size != int64(len("v:certificates/ca/a.test/a.test.key")) {
		t.Fatalf("Stat(file) = %+v, %v", ki, err)
	}
	if ki, err := s.Stat(ctx, "certificates/ca"); err != nil || ki.IsTerminal {
		t.Fatalf("Stat(dir) = %+v, %v; want a directory", ki, err)
	}
	if err := s.Delete(ctx, "certificates/ca/a.test"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "certificates/ca/a.test/a.test.crt") {
		t.Fatal("Delete(dir) left a key below it")
	}
	if err := s.Delete(ctx, "certificates/ca/a.test"); err != nil {
		t.Fatalf("Delete(missing) = %v; want nil", err)
	}
}

// TestLockOneWinner: of many instances contending for one lock at once,
// exactly one gets it; and Lock gives mutual exclusion over many rounds.
func TestLockOneWinner(t *testing.T) {
	bucket := newBucket(t)
	const n = 8
	stores := make([]*Storage, n)
	for i := range stores {
		stores[i] = newStorage(t, bucket, time.Minute, fmt.Sprintf("instance-%d", i))
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, s := range stores {
		wg.Go(func() {
			<-start
			ok, err := s.TryLock(t.Context(), "issue_cert_one.test")
			if err != nil {
				t.Errorf("TryLock: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Fatalf("TryLock winners = %d; want 1", got)
	}

	// Mutual exclusion with blocking Lock: no two holders ever overlap.
	var inside, maxInside, rounds atomic.Int32
	for _, s := range stores {
		wg.Go(func() {
			for range 3 {
				if err := s.Lock(t.Context(), "issue_cert_mutex.test"); err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				cur := inside.Add(1)
				if cur > maxInside.Load() {
					maxInside.Store(cur)
				}
				time.Sleep(5 * time.Millisecond)
				inside.Add(-1)
				rounds.Add(1)
				if err := s.Unlock(t.Context(), "issue_cert_mutex.test"); err != nil {
					t.Errorf("Unlock: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if maxInside.Load() != 1 || rounds.Load() != 3*n {
		t.Fatalf("max holders at once = %d, rounds = %d; want 1 and %d", maxInside.Load(), rounds.Load(), 3*n)
	}
	t.Logf("%d instances: 1 TryLock winner; %d Lock rounds, never two holders", n, rounds.Load())
}

// crash simulates a holder that dies: its lease is no longer renewed, its
// lock object stays.
func crash(s *Storage, name string) {
	s.mu.Lock()
	h := s.held[name]
	s.mu.Unlock()
	close(h.stop)
	<-h.done
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	close(h.done)
}

// TestLockTakeoverAfterExpiry: a crashed holder's lock is taken over once
// it expires, not before; the old holder can no longer release it.
func TestLockTakeoverAfterExpiry(t *testing.T) {
	bucket := newBucket(t)
	const ttl = 2 * time.Second
	a := newStorage(t, bucket, ttl, "crashing")
	b := newStorage(t, bucket, ttl, "survivor")
	ctx := t.Context()
	if err := a.Lock(ctx, "issue_cert_crash.test"); err != nil {
		t.Fatal(err)
	}
	// A live holder renews: b cannot take it even after several TTLs.
	time.Sleep(ttl + ttl/2)
	if ok, err := b.TryLock(ctx, "issue_cert_crash.test"); ok || err != nil {
		t.Fatalf("TryLock on a renewed lock = %v, %v; want false", ok, err)
	}
	crashed := time.Now()
	crash(a, "issue_cert_crash.test")
	lctx, cancel := context.WithTimeout(ctx, 5*ttl)
	defer cancel()
	if err := b.Lock(lctx, "issue_cert_crash.test"); err != nil {
		t.Fatalf("Lock after the holder crashed: %v", err)
	}
	waited := time.Since(crashed)
	if waited < ttl/3 { // the last renewal was at most ttl/3 before the crash
		t.Fatalf("lock taken over after %v; want after the lease expired", waited)
	}
	if err := a.Unlock(ctx, "issue_cert_crash.test"); err == nil {
		t.Fatal("the crashed holder's Unlock succeeded; want it refused (If-Match on its old ETag)")
	}
	if err := b.Unlock(ctx, "issue_cert_crash.test"); err != nil {
		t.Fatalf("survivor Unlock: %v", err)
	}
	t.Logf("crashed holder's lock taken over %v after the crash (ttl %v)", waited.Round(time.Millisecond), ttl)
}

// TestLockRenewAfterLostReply: a renewal that landed after its request
// timed out leaves the lock with an ETag the holder never saw; the holder
// keeps its lock all the same: it renews it, and it releases it (so the
// next contender need not wait for the TTL). A lock rewritten by
// another owner is not adopted: the holder has lost it.
func TestLockRenewAfterLostReply(t *testing.T) {
	bucket := newBucket(t)
	a := newStorage(t, bucket, time.Minute, "holder")
	b := newStorage(t, bucket, time.Minute, "other")
	ctx := t.Context()
	key := a.lockKey("issue_cert_lost.test")
	rewrite := func(owner string) {
		t.Helper()
		body := fmt.Sprintf(`{"owner":%q,"expires":%q}`, owner, time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano))
		if _, err := moto.S3().PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Lock(ctx, "issue_cert_lost.test"); err != nil {
		t.Fatal(err)
	}
	rewrite("holder") // the holder's own renewal, whose reply was lost
	if err := a.RenewLockLease(ctx, "issue_cert_lost.test", time.Minute); err != nil {
		t.Fatalf("RenewLockLease after its own write landed unseen: %v; want the lock kept", err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_lost.test"); ok || err != nil {
		t.Fatalf("another instance's TryLock = %v, %v; want false while the holder keeps it", ok, err)
	}
	if err := a.Unlock(ctx, "issue_cert_lost.test"); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	// The same, with the release coming straight after the unseen write.
	if err := a.Lock(ctx, "issue_cert_lost.test"); err != nil {
		t.Fatal(err)
	}
	rewrite("holder")
	if err := a.Unlock(ctx, "issue_cert_lost.test"); err != nil {
		t.Fatalf("Unlock after its own write landed unseen: %v; want the lock released", err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_lost.test"); !ok || err != nil {
		t.Fatalf("TryLock after the release = %v, %v; want the lock free", ok, err)
	}
	if err := b.Unlock(ctx, "issue_cert_lost.test"); err != nil {
		t.Fatal(err)
	}

	if err := a.Lock(ctx, "issue_cert_lost.test"); err != nil {
		t.Fatal(err)
	}
	rewrite("other") // someone else's write: the lock is no longer a's
	if err := a.RenewLockLease(ctx, "issue_cert_lost.test", time.Minute); err == nil {
		t.Fatal("RenewLockLease over another owner's lock succeeded; want it refused")
	}
	_ = a.Unlock(ctx, "issue_cert_lost.test")
}

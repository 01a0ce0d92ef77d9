package dynamostore

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/internal/testpeers"
	"github.com/tether-proxy/tether/replication"
)

// moto is the moto_server of this package's tests; nil under -short, and
// outside CI when moto_server is not installed (the tests skip).
var moto *testpeers.Moto

// TestMain starts moto_server on a free 127.0.0.1 port and stops it by PID.
// Without moto_server the tests skip, except in CI (CI set), where that
// fails the run.
func TestMain(m *testing.M) { testpeers.MotoMain(m, &moto, true) }

func client(t *testing.T) *dynamodb.Client {
	t.Helper()
	if moto == nil {
		t.Skip("moto_server not started (-short, or not installed outside CI)")
	}
	return moto.DynamoDB()
}

func newStore(t *testing.T) *Store {
	t.Helper()
	c := client(t)
	table := "sessions-" + t.Name()
	if err := CreateTable(t.Context(), c, table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	if err := CreateTable(t.Context(), c, table); err != nil {
		t.Fatalf("CreateTable of an existing table: %v", err)
	}
	s, err := New(Config{Client: c, Table: table, ConsistentRead: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPutGetKeepsMergeOrder(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	now := time.Now().Truncate(time.Second).UTC()
	v := replication.MakeVersion(now, 0)
	e := replication.Entry{Balancer: "app", Key: "ABC.t1", Route: "t2", Origin: "n1", Version: v, Expires: now.Add(30 * time.Minute)}
	if _, ok, err := s.Get(ctx, "app", "ABC.t1"); ok || err != nil {
		t.Fatalf("Get before Put = %v, %v; want a miss", ok, err)
	}
	for _, tc := range []struct {
		name string
		put  replication.Entry
		want replication.Entry
	}{
		{name: "first write", put: e, want: e},
		{name: "older version loses", put: with(e, func(x *replication.Entry) { x.Version--; x.Route = "t9" }), want: e},
		{name: "same version later expiry extends", put: with(e, func(x *replication.Entry) { x.Expires = now.Add(time.Hour) }),
			want: with(e, func(x *replication.Entry) { x.Expires = now.Add(time.Hour) })},
		{name: "same version earlier expiry keeps", put: e, want: with(e, func(x *replication.Entry) { x.Expires = now.Add(time.Hour) })},
		{name: "equal version greater origin wins", put: with(e, func(x *replication.Entry) { x.Origin = "n2"; x.Route = "t3" }),
			want: with(e, func(x *replication.Entry) { x.Origin = "n2"; x.Route = "t3" })},
		{name: "newer tombstone", put: replication.Entry{Balancer: "app", Key: "ABC.t1", Origin: "n1", Version: v + 1, Expires: now.Add(time.Hour), Deleted: true},
			want: replication.Entry{Balancer: "app", Key: "ABC.t1", Origin: "n1", Version: v + 1, Expires: now.Add(time.Hour), Deleted: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Put(ctx, tc.put); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, ok, err := s.Get(ctx, "app", "ABC.t1")
			if err != nil || !ok || got != tc.want {
				t.Errorf("Get = %+v, %v, %v; want %+v", got, ok, err, tc.want)
			}
		})
	}
	if _, ok, _ := s.Get(ctx, "ap", "pABC.t1"); ok {
		t.Error("Get of another balancer/key split found the item")
	}
}

func with(e replication.Entry, f func(*replication.Entry)) replication.Entry {
	f(&e)
	return e
}

// TestTwoClustersShareTable: a session pinned by a proxy of one cluster is
// routed alike by a proxy of another cluster that shares only the table.
func TestTwoClustersShareTable(t *testing.T) {
	s := newStore(t)
	newTable := func(name string) *replication.Table {
		tb, err := replication.New(replication.Config{NodeName: name, Store: s, Logger: zerolog.New(t.Output())})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- tb.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		return tb
	}
	east, west := newTable("east-1"), newTable("west-1")
	now := time.Now()
	if _, err := east.Set("app", "S1.tomcat1", "tomcat2", now); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, ok, err := west.Fetch(t.Context(), "app", "S1.tomcat1", time.Now())
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if ok {
			if r != "tomcat2" {
				t.Fatalf("Fetch = %q; want tomcat2", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("west never saw east's pin through the store")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Now it is local to west too.
	if r, ok := west.Get("app", "S1.tomcat1", time.Now()); !ok || r != "tomcat2" {
		t.Errorf("west.Get after Fetch = %q, %v", r, ok)
	}
	if st := east.Stats(); st.StoreErrors != 0 {
		t.Errorf("store errors: %+v", st)
	}
	if _, ok, err := west.Fetch(t.Context(), "app", "unknown", time.Now()); ok || err != nil {
		t.Errorf("Fetch of an unknown key = %v, %v", ok, err)
	}
}

// Package dynamostore keeps replication entries in a DynamoDB table, so that
// proxy clusters that share nothing else (several regions, with the table a
// DynamoDB global table) route sessions alike. It implements
// replication.Store; the table writes every local change through to it and
// reads it on a local miss (replication.Table.Fetch).
//
// # Table
//
// One item per (balancer, session key), partition key "pk" (string):
//
//	pk          S  "<len(balancer)>#<balancer>#<key>" (unambiguous)
//	balancer    S
//	route       S  absent for a tombstone
//	deleted     BOOL
//	origin      S  node that wrote the version
//	ver         N  replication.Version
//	expires_at  N  unix seconds; the table's TTL attribute
//
// CreateTable creates it (on-demand billing, TTL on expires_at). DynamoDB
// deletes expired items lazily (within days), so Get checks expires_at
// itself.
//
// # Consistency
//
// Put is a conditional write that keeps replication.Merge's order: it
// replaces the item only if it is absent or older (lower ver, or equal ver
// and lower origin); an equal version with a later expiry only extends
// expires_at. A losing write is not an error. Within a region this is the
// same join as the in-memory table; across the regions of a global table,
// conditions are checked against the local replica and the last writer wins
// (DynamoDB's MREC), which can at worst replace a newer pin by an older one
// written elsewhere within the replication delay (typically under a second).
//
// # Concurrency
//
// A Store is safe for concurrent use; it holds no state beyond its client.
// Session keys are never logged (the package does not log).
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tether-proxy/tether/replication"
)

// API is the part of the DynamoDB client the Store uses (*dynamodb.Client
// implements it; tests may substitute a fake).
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Config configures a Store.
type Config struct {
	// Client talks to DynamoDB. Required.
	Client API
	// Table is the table name. Required.
	Table string
	// ConsistentRead makes Get strongly consistent within the region
	// (twice the read cost). Default false: eventually consistent reads
	// are usually fresh within a second, and a miss only means the session
	// is routed by its own id.
	ConsistentRead bool
}

// Store is a replication.Store on DynamoDB.
type Store struct {
	cfg Config
}

var _ replication.Store = (*Store)(nil)

// New validates cfg and returns a Store. It does no I/O.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("dynamostore: no client")
	}
	if cfg.Table == "" {
		return nil, errors.New("dynamostore: no table name")
	}
	return &Store{cfg: cfg}, nil
}

func pk(balancer, key string) string {
	return strconv.Itoa(len(balancer)) + "#" + balancer + "#" + key
}

// Get returns the stored entry for key in balancer, which may be a tombstone
// or expired (the caller checks); ok is false if there is none.
func (s *Store) Get(ctx context.Context, balancer, key string) (replication.Entry, bool, error) {
	out, err := s.cfg.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.cfg.Table),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk(balancer, key)}},
		ConsistentRead: aws.Bool(s.cfg.ConsistentRead),
	})
	if err != nil {
		return replication.Entry{}, false, fmt.Errorf("get session from dynamodb table %s: %w", s.cfg.Table, err)
	}
	if len(out.Item) == 0 {
		return replication.Entry{}, false, nil
	}
	e, err := decode(out.Item)
	if err != nil {
		return replication.Entry{}, false, fmt.Errorf("session item in dynamodb table %s: %w", s.cfg.Table, err)
	}
	if e.Balancer != balancer {
		return replication.Entry{}, false, nil
	}
	e.Key = key
	return e, true, nil
}

// Put writes e unless the stored item wins over it by replication.Merge's
// order; see the package doc.
func (s *Store) Put(ctx context.Context, e replication.Entry) error {
	item := map[string]types.AttributeValue{
		"pk":         &types.AttributeValueMemberS{Value: pk(e.Balancer, e.Key)},
		"balancer":   &types.AttributeValueMemberS{Value: e.Balancer},
		"deleted":    &types.AttributeValueMemberBOOL{Value: e.Deleted},
		"origin":     &types.AttributeValueMemberS{Value: e.Origin},
		"ver":        num(uint64(e.Version)),
		"expires_at": num(uint64(e.Expires.Unix())),
	}
	if !e.Deleted {
		item["route"] = &types.AttributeValueMemberS{Value: e.Route}
	}
	_, err := s.cfg.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.cfg.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk) OR ver < :v OR (ver = :v AND origin < :o)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":v": num(uint64(e.Version)),
			":o": &types.AttributeValueMemberS{Value: e.Origin},
		},
	})
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); !ok {
		return fmt.Errorf("put session to dynamodb table %s: %w", s.cfg.Table, err)
	}
	// Same or older version: at most extend the expiry of the same version.
	_, err = s.cfg.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.cfg.Table),
		Key:                 map[string]types.AttributeValue{"pk": item["pk"]},
		UpdateExpression:    aws.String("SET expires_at = :e"),
		ConditionExpression: aws.String("ver = :v AND origin = :o AND expires_at < :e"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":v": num(uint64(e.Version)),
			":o": &types.AttributeValueMemberS{Value: e.Origin},
			":e": item["expires_at"],
		},
	})
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok || err == nil {
		return nil
	}
	return fmt.Errorf("extend session expiry in dynamodb table %s: %w", s.cfg.Table, err)
}

func num(v uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(v, 10)}
}

func decode(item map[string]types.AttributeValue) (replication.Entry, error) {
	var e replication.Entry
	str := func(name string) string {
		if v, ok := item[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	unum := func(name string) (uint64, error) {
		v, ok := item[name].(*types.AttributeValueMemberN)
		if !ok {
			return 0, fmt.Errorf("attribute %s missing", name)
		}
		return strconv.ParseUint(v.Value, 10, 64)
	}
	e.Balancer = str("balancer")
	e.Route = str("route")
	e.Origin = str("origin")
	if v, ok := item["deleted"].(*types.AttributeValueMemberBOOL); ok {
		e.Deleted = v.Value
	}
	ver, err := unum("ver")
	if err != nil {
		return e, err
	}
	exp, err := unum("expires_at")
	if err != nil {
		return e, err
	}
	e.Version = replication.Version(ver)
	e.Expires = time.Unix(int64(exp), 0).UTC()
	return e, nil
}

// TableAPI is the part of the DynamoDB client CreateTable uses.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
}

// CreateTable creates the sessions table (on-demand billing), waits until it
// is active and enables TTL on expires_at. A table that already exists is
// not an error.
func CreateTable(ctx context.Context, client TableAPI, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if _, ok := errors.AsType[*types.ResourceInUseException](err); err != nil && !ok {
		return fmt.Errorf("create dynamodb table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client)
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("wait for dynamodb table %s: %w", table, err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return fmt.Errorf("describe ttl of dynamodb table %s: %w", table, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && aws.ToString(d.AttributeName) == "expires_at" &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String("expires_at"),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("enable ttl on dynamodb table %s: %w", table, err)
	}
	return nil
}

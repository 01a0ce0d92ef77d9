package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/rs/zerolog"

	"github.com/tether-proxy/tether/config"
	"github.com/tether-proxy/tether/replication"
	"github.com/tether-proxy/tether/replication/dynamostore"
)

// sessionTable is what a proxy process runs for session replication: the
// table, whether it has a shared store, and the key that signs affinity
// cookies.
type sessionTable struct {
	tab         *replication.Table
	store       bool
	affinityKey []byte
	// advertise is the replication address for the membership metadata:
	// host:port, or :port when bound to every interface (peers then use
	// the gossip address's host).
	advertise string
}

// newSessionTable builds the session table of proxy node. In a cluster it
// listens next to gossip (ReplicationBind) and encrypts with the gossip
// keys; alone it has no listener. Member states persist under the data
// directory either way.
func newSessionTable(ctx context.Context, cfg *config.Config, node, dataDir string, log zerolog.Logger) (*sessionTable, error) {
	rc := replication.Config{
		NodeName:  node,
		Logger:    log,
		StatePath: filepath.Join(dataDir, "sessions", safeFileName(node), "member-states.json"),
	}
	if err := os.MkdirAll(filepath.Dir(rc.StatePath), 0o700); err != nil {
		return nil, fmt.Errorf("session table: %w", err)
	}
	st := &sessionTable{}
	cc := cfg.Global.Cluster
	if cc != nil {
		rc.Label = cc.Name
		rc.SessionTTL = cc.SessionTTL
		bind, err := ReplicationBind(cc.Bind)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cc.Pos, err)
		}
		rc.Bind = bind
		for _, k := range cc.GossipKey {
			raw, err := base64.StdEncoding.DecodeString(k)
			if err != nil {
				return nil, fmt.Errorf("%s: gossip_key: %w", cc.Pos, err)
			}
			rc.Keys = append(rc.Keys, raw)
		}
		if s := cc.Store; s != nil {
			store, err := newDynamoStore(ctx, s)
			if err != nil {
				return nil, fmt.Errorf("%s: store dynamodb: %w", s.Pos, err)
			}
			rc.Store = store
			st.store = true
		}
	}
	tab, err := replication.New(rc)
	if err != nil {
		return nil, fmt.Errorf("session table: %w", err)
	}
	st.tab = tab
	if a, ok := tab.Addr().(*net.TCPAddr); ok {
		st.advertise = a.String()
		if a.IP.IsUnspecified() {
			st.advertise = ":" + strconv.Itoa(a.Port)
		}
	}
	if len(rc.Keys) > 0 {
		st.affinityKey, err = AffinityKey(rc.Keys[0], rc.Label)
	} else {
		st.affinityKey, err = localAffinityKey(filepath.Join(dataDir, "affinity.key"))
	}
	if err != nil {
		tab.Close()
		return nil, err
	}
	return st, nil
}

// localAffinityKey is the affinity cookie key of a proxy without a cluster
// key: created once, kept in the data directory, so cookies survive a
// restart.
func localAffinityKey(path string) ([]byte, error) {
	k, err := os.ReadFile(path)
	if err == nil && len(k) == 32 {
		return k, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("affinity key: %w", err)
	}
	k = make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("affinity key: %w", err)
	}
	if err := os.WriteFile(path, k, 0o600); err != nil {
		return nil, fmt.Errorf("affinity key: %w", err)
	}
	return k, nil
}

// newDynamoStore is the `store dynamodb` of a cluster block.
func newDynamoStore(ctx context.Context, s *config.SessionStore) (*dynamostore.Store, error) {
	// The region: the option, else the environment, else the instance
	// metadata (as the cluster's ec2 and s3 discovery do).
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithEC2IMDSRegion()}
	if s.Region != "" {
		opts = []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(s.Region)}
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if ac.Region == "" {
		return nil, errors.New("no region: set region, or AWS_REGION (no instance metadata here)")
	}
	client := dynamodb.NewFromConfig(ac, func(o *dynamodb.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
	})
	return dynamostore.New(dynamostore.Config{Client: client, Table: s.Table})
}

// safeFileName keeps a node name usable as a directory name.
func safeFileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
		default:
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

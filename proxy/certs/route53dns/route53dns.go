// Package route53dns keeps DNS records in Amazon Route 53 for ACME DNS-01
// challenges: a Provider implements libdns's RecordAppender and
// RecordDeleter, which is what certmagic's DNS01Solver takes.
//
// Route 53 stores a record set per name and type, with all its values
// together, and its change API replaces whole sets. Two challenges can
// share one name at once (example.com and *.example.com both answer at
// _acme-challenge.example.com, with different values), so appending and
// deleting are read-modify-write: read the set, then, in one atomic change
// batch, DELETE the set exactly as read and CREATE the new one. Route 53
// refuses the batch (InvalidChangeBatch) when the set changed meanwhile,
// for instance because another Tether instance wrote it, and the Provider
// reads again and retries. Within one process the writes are serialized.
//
// It calls three Route 53 actions: ListHostedZonesByName (only when no
// hosted zone id is configured), ListResourceRecordSets and
// ChangeResourceRecordSets. examples/aws/iam/route53-dns01.json grants
// exactly these.
package route53dns

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/libdns/libdns"
)

// API is the part of the Route 53 client a Provider calls;
// *route53.Client implements it.
type API interface {
	ListHostedZonesByName(ctx context.Context, in *route53.ListHostedZonesByNameInput, optFns ...func(*route53.Options)) (*route53.ListHostedZonesByNameOutput, error)
	ListResourceRecordSets(ctx context.Context, in *route53.ListResourceRecordSetsInput, optFns ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
	ChangeResourceRecordSets(ctx context.Context, in *route53.ChangeResourceRecordSetsInput, optFns ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
}

var _ API = (*route53.Client)(nil)

// Config configures a Provider.
type Config struct {
	// HostedZoneID is the hosted zone the records go in ("Z0123…" or
	// "/hostedzone/Z0123…"). "": the public hosted zone whose name is the
	// zone certmagic found (a private one only when no public one has
	// that name), looked up once per zone.
	HostedZoneID string
	// Region signs the requests. Route 53 is a global service; default
	// us-east-1 (the SDK's environment and shared config are read first).
	Region string
	// Endpoint overrides the Route 53 endpoint URL (tests: moto_server).
	Endpoint string
	// TTL is the TTL of records written without one. Default 60s.
	TTL time.Duration
	// AccessKeyID and SecretAccessKey are static credentials (with
	// SessionToken for temporary ones) used instead of the SDK's chain;
	// both empty: the chain.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Profile is the shared config profile to read; "": the default.
	Profile string
	// MaxAttempts bounds each call's attempts, the first included; 0: the
	// SDK's default (3).
	MaxAttempts int
}

// Provider writes records in Route 53. It is safe for concurrent use.
type Provider struct {
	api    API
	zoneID string // configured; "" looks zones up
	ttl    time.Duration

	// mu serializes the read-modify-write of record sets and guards zones.
	mu    sync.Mutex
	zones map[string]string // zone name (lower case, trailing dot) → hosted zone id
}

var (
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
)

// New returns a Provider with cfg's static credentials, else the AWS
// SDK's default credential chain (environment, web identity, shared files
// in cfg's profile, container and instance roles). It does no network
// I/O.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.AccessKeyID != "" && cfg.SecretAccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	if cfg.MaxAttempts > 0 {
		opts = append(opts, awsconfig.WithRetryMaxAttempts(cfg.MaxAttempts))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("route53: aws config: %w", err)
	}
	if ac.Region == "" {
		ac.Region = "us-east-1"
	}
	client := route53.NewFromConfig(ac, func(o *route53.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return NewWithAPI(client, cfg), nil
}

// NewWithAPI returns a Provider that calls api; cfg's Region and Endpoint
// are not used.
func NewWithAPI(api API, cfg Config) *Provider {
	p := &Provider{api: api, zoneID: cfg.HostedZoneID, ttl: cfg.TTL, zones: map[string]string{}}
	if p.ttl <= 0 {
		p.ttl = 60 * time.Second
	}
	return p
}

// maxAttempts bounds the retries of a change that lost a race.
const maxAttempts = 5

// AppendRecords adds recs to zone ("example.com."), keeping every value
// already there, and returns what it added (TXT records as libdns.TXT).
func (p *Provider) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return p.change(ctx, zone, recs, true)
}

// DeleteRecords removes the values of recs from zone, and a record set
// with no value left, and returns what it removed. A value that is not
// there is ignored, as libdns asks.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return p.change(ctx, zone, recs, false)
}

// setKey is one record set: an absolute name in lower case and a type.
type setKey struct{ name, typ string }

func (p *Provider) change(ctx context.Context, zone string, recs []libdns.Record, add bool) ([]libdns.Record, error) {
	zone = normalize(zone)
	if zone == "." {
		return nil, errors.New("route53: empty zone")
	}
	// Group the records by set, keeping their order.
	var keys []setKey
	groups := map[setKey][]libdns.RR{}
	for _, r := range recs {
		rr := r.RR()
		if rr.Name == "" || rr.Type == "" {
			return nil, fmt.Errorf("route53: record %+v: name and type are required", rr)
		}
		k := setKey{name: normalize(libdns.AbsoluteName(rr.Name, zone)), typ: strings.ToUpper(rr.Type)}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], rr)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	id, err := p.hostedZoneLocked(ctx, zone)
	if err != nil {
		return nil, err
	}
	var done []libdns.Record
	for _, k := range keys {
		got, err := p.changeSetLocked(ctx, id, zone, k, groups[k], add)
		done = append(done, got...)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// changeSetLocked adds or removes rrs in one record set, retrying when
// another writer changed the set between the read and the write.
func (p *Provider) changeSetLocked(ctx context.Context, zoneID, zone string, k setKey, rrs []libdns.RR, add bool) ([]libdns.Record, error) {
	verb := "delete"
	if add {
		verb = "append"
	}
	var lastErr error
	for range maxAttempts {
		cur, err := p.readSet(ctx, zoneID, k)
		if err != nil {
			return nil, fmt.Errorf("route53: %s %s %s: %w", verb, k.typ, k.name, err)
		}
		var values []string // the set's values, as Route 53 holds them
		ttl := p.ttl
		if cur != nil {
			for _, v := range cur.ResourceRecords {
				values = append(values, aws.ToString(v.Value))
			}
			ttl = time.Duration(aws.ToInt64(cur.TTL)) * time.Second
		}
		next := slices.Clone(values)
		var changed []libdns.Record
		for _, rr := range rrs {
			v := encodeValue(k.typ, rr.Data)
			has := slices.ContainsFunc(next, func(x string) bool { return sameValue(k.typ, x, v) })
			switch {
			case add && !has:
				next = append(next, v)
				if cur == nil && rr.TTL > 0 {
					ttl = rr.TTL
				}
			case !add && has:
				next = slices.DeleteFunc(next, func(x string) bool { return sameValue(k.typ, x, v) })
			default:
				continue
			}
			changed = append(changed, record(zone, k, rr.Data, ttl))
		}
		if len(changed) == 0 {
			return nil, nil
		}
		var batch []types.Change
		if cur != nil {
			batch = append(batch, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: cur})
		}
		if len(next) > 0 {
			set := &types.ResourceRecordSet{Name: aws.String(k.name), Type: types.RRType(k.typ), TTL: aws.Int64(int64(ttl / time.Second))}
			for _, v := range next {
				set.ResourceRecords = append(set.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
			}
			batch = append(batch, types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: set})
		}
		_, err = p.api.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(zoneID),
			ChangeBatch: &types.ChangeBatch{
				Comment: aws.String("tether acme dns-01"),
				Changes: batch,
			},
		})
		if err == nil {
			return changed, nil
		}
		lastErr = err
		if _, raced := errors.AsType[*types.InvalidChangeBatch](err); !raced {
			break
		}
		// The set changed since it was read (or another writer created
		// it): read it again.
	}
	return nil, fmt.Errorf("route53: %s %s %s: %w", verb, k.typ, k.name, lastErr)
}

// readSet returns the record set k, or nil when the zone has none.
func (p *Provider) readSet(ctx context.Context, zoneID string, k setKey) (*types.ResourceRecordSet, error) {
	out, err := p.api.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId:    aws.String(zoneID),
		StartRecordName: aws.String(k.name),
		StartRecordType: types.RRType(k.typ),
		MaxItems:        aws.Int32(1),
	})
	if err != nil {
		return nil, err
	}
	for i := range out.ResourceRecordSets {
		s := &out.ResourceRecordSets[i]
		// Routing policies (weighted, latency…) are not what an ACME
		// client writes; a plain set has no SetIdentifier.
		if normalize(aws.ToString(s.Name)) == k.name && string(s.Type) == k.typ && s.SetIdentifier == nil {
			return s, nil
		}
	}
	return nil, nil
}

// hostedZoneLocked returns the hosted zone id of zone: the configured one,
// else the public zone of that name (a private one when there is no
// public one).
func (p *Provider) hostedZoneLocked(ctx context.Context, zone string) (string, error) {
	if p.zoneID != "" {
		return strings.TrimPrefix(p.zoneID, "/hostedzone/"), nil
	}
	if id, ok := p.zones[zone]; ok {
		return id, nil
	}
	out, err := p.api.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String(zone)})
	if err != nil {
		return "", fmt.Errorf("route53: hosted zone of %s: %w", zone, err)
	}
	id := ""
	for _, z := range out.HostedZones {
		if normalize(aws.ToString(z.Name)) != zone {
			continue // zones are listed in name order from zone on
		}
		private := z.Config != nil && z.Config.PrivateZone
		if id == "" || !private {
			id = strings.TrimPrefix(aws.ToString(z.Id), "/hostedzone/")
		}
		if !private {
			break
		}
	}
	if id == "" {
		return "", fmt.Errorf("route53: no hosted zone named %s (set hosted_zone_id)", zone)
	}
	p.zones[zone] = id
	return id, nil
}

// record is what a change returns to libdns: TXT records as libdns.TXT,
// others as the RR.
func record(zone string, k setKey, data string, ttl time.Duration) libdns.Record {
	name := libdns.RelativeName(k.name, zone)
	if k.typ == "TXT" {
		return libdns.TXT{Name: name, TTL: ttl, Text: data}
	}
	return libdns.RR{Name: name, Type: k.typ, TTL: ttl, Data: data}
}

// normalize is a DNS name in Route 53's comparable form: lower case, with
// a trailing dot, and Route 53's octal escape of '*' undone.
func normalize(name string) string {
	name = strings.ToLower(strings.ReplaceAll(name, `\052`, "*"))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// encodeValue is a record value as Route 53 takes it: TXT data quoted,
// with '"' and '\' escaped, in strings of at most 255 bytes (RFC 1035
// 3.3.14); other types as they are.
func encodeValue(typ, data string) string {
	if typ != "TXT" {
		return data
	}
	var b strings.Builder
	for first := true; first || data != ""; first = false {
		chunk := data
		if len(chunk) > 255 {
			chunk = chunk[:255]
		}
		data = data[len(chunk):]
		if !first {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		for i := 0; i < len(chunk); i++ {
			if c := chunk[i]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(chunk[i])
		}
		b.WriteByte('"')
	}
	return b.String()
}

// sameValue compares two values as Route 53 holds them; TXT values by
// their decoded text, since Route 53 may escape differently.
func sameValue(typ, a, b string) bool {
	if typ != "TXT" {
		return a == b
	}
	da, errA := DecodeTXT(a)
	db, errB := DecodeTXT(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return da == db
}

// DecodeTXT returns the text of a TXT value in Route 53's presentation
// format: one or more quoted strings, joined, with \" \\ and \DDD (octal)
// escapes undone. An unquoted value is returned as it is.
func DecodeTXT(v string) (string, error) {
	if !strings.HasPrefix(v, `"`) {
		return v, nil
	}
	var b strings.Builder
	i := 0
	for i < len(v) {
		switch v[i] {
		case ' ':
			i++
			continue
		case '"':
		default:
			return "", fmt.Errorf("txt value %q: text outside quotes at byte %d", v, i)
		}
		i++ // opening quote
		for {
			if i >= len(v) {
				return "", fmt.Errorf("txt value %q: unterminated string", v)
			}
			c := v[i]
			if c == '"' {
				i++
				break
			}
			if c != '\\' {
				b.WriteByte(c)
				i++
				continue
			}
			if i+1 >= len(v) {
				return "", fmt.Errorf("txt value %q: escape at the end", v)
			}
			if i+3 < len(v) && isOctal(v[i+1]) && isOctal(v[i+2]) && isOctal(v[i+3]) {
				n, _ := strconv.ParseUint(v[i+1:i+4], 8, 16)
				if n > 255 {
					return "", fmt.Errorf("txt value %q: escape \\%s out of range", v, v[i+1:i+4])
				}
				b.WriteByte(byte(n))
				i += 4
				continue
			}
			b.WriteByte(v[i+1])
			i += 2
		}
	}
	return b.String(), nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

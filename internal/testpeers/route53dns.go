package testpeers

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"
)

// Route53 returns a Route 53 client for moto with static test credentials.
func (m *Moto) Route53() *route53.Client {
	return route53.New(route53.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// Route53DNS is a DNS server on 127.0.0.1 (UDP and TCP, one port) that
// plays Route 53's name servers for the hosted zones moto holds: every
// answer is read from moto's Route 53 API at query time. Pebble's
// validation (its -dnsserver) and certmagic's zone and propagation
// lookups (tls resolvers) asked here see exactly the records a provider
// wrote through the Route 53 API, and nothing else.
//
// It answers SOA at a zone's apex, TXT, A and AAAA from the zone's record
// sets, NOERROR with the zone's SOA in the authority section for a name in
// a zone without such records, and NXDOMAIN outside every zone.
type Route53DNS struct {
	Addr    string // 127.0.0.1:port
	client  *route53.Client
	servers []*dns.Server

	mu      sync.Mutex
	queries []string // "TYPE name", in order
}

// StartRoute53DNS serves moto's Route 53 zones on a free loopback port.
func StartRoute53DNS(client *route53.Client) (*Route53DNS, error) {
	var (
		pc  net.PacketConn
		l   net.Listener
		err error
	)
	for range 20 { // the UDP and TCP ports must be the same
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		if pc, err = net.ListenPacket("udp", l.Addr().String()); err == nil {
			break
		}
		l.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("route53 dns: no port free for both udp and tcp: %w", err)
	}
	d := &Route53DNS{Addr: l.Addr().String(), client: client}
	h := dns.HandlerFunc(d.serve)
	started := make(chan struct{}, 2)
	d.servers = []*dns.Server{
		{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }},
		{Listener: l, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }},
	}
	for _, s := range d.servers {
		go s.ActivateAndServe()
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			d.Stop()
			return nil, fmt.Errorf("route53 dns: did not start")
		}
	}
	return d, nil
}

// Stop closes the server.
func (d *Route53DNS) Stop() {
	for _, s := range d.servers {
		s.Shutdown()
	}
}

// Queries returns the questions asked so far, as "TYPE name".
func (d *Route53DNS) Queries() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.queries...)
}

func (d *Route53DNS) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	d.mu.Lock()
	d.queries = append(d.queries, dns.TypeToString[q.Qtype]+" "+name)
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	zone, err := d.zoneOf(ctx, name)
	switch {
	case err != nil:
		m.Rcode = dns.RcodeServerFailure
	case zone == nil:
		m.Rcode = dns.RcodeNameError
	default:
		zname := strings.ToLower(aws.ToString(zone.Name))
		soa := &dns.SOA{Hdr: dns.RR_Header{Name: zname, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
			Ns: "ns-1.awsdns.test.", Mbox: "awsdns-hostmaster.amazon.com.", Serial: 1, Refresh: 7200, Retry: 900, Expire: 1209600, Minttl: 60}
		if q.Qtype == dns.TypeSOA && name == zname {
			m.Answer = append(m.Answer, soa)
			break
		}
		rrs, err := d.records(ctx, aws.ToString(zone.Id), name, q.Qtype)
		if err != nil {
			m.Rcode = dns.RcodeServerFailure
			break
		}
		m.Answer = rrs
		if len(rrs) == 0 {
			m.Ns = append(m.Ns, soa)
		}
	}
	w.WriteMsg(m)
}

// zoneOf returns the hosted zone with the longest name that name is in.
func (d *Route53DNS) zoneOf(ctx context.Context, name string) (*r53types.HostedZone, error) {
	var best *r53types.HostedZone
	p := route53.NewListHostedZonesPaginator(d.client, &route53.ListHostedZonesInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for i := range out.HostedZones {
			z := &out.HostedZones[i]
			zn := strings.ToLower(aws.ToString(z.Name))
			if !strings.HasSuffix(zn, ".") {
				zn += "."
			}
			if (name == zn || strings.HasSuffix(name, "."+zn)) && (best == nil || len(zn) > len(aws.ToString(best.Name))) {
				best = z
			}
		}
	}
	return best, nil
}

// records reads the record set name/qtype from the zone as DNS answers.
func (d *Route53DNS) records(ctx context.Context, zoneID, name string, qtype uint16) ([]dns.RR, error) {
	typ := dns.TypeToString[qtype]
	if qtype != dns.TypeTXT && qtype != dns.TypeA && qtype != dns.TypeAAAA {
		return nil, nil
	}
	out, err := d.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID), StartRecordName: aws.String(name), StartRecordType: r53types.RRType(typ),
	})
	if err != nil {
		return nil, err
	}
	var rrs []dns.RR
	for _, s := range out.ResourceRecordSets {
		sn := strings.ToLower(aws.ToString(s.Name))
		if !strings.HasSuffix(sn, ".") {
			sn += "."
		}
		if sn != name || string(s.Type) != typ {
			continue
		}
		for _, v := range s.ResourceRecords {
			rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", name, aws.ToInt64(s.TTL), typ, aws.ToString(v.Value)))
			if err != nil {
				return nil, fmt.Errorf("record %s %s %q: %w", name, typ, aws.ToString(v.Value), err)
			}
			rrs = append(rrs, rr)
		}
	}
	return rrs, nil
}

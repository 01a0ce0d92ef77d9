package proxy

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// startRoute53DNS creates the public hosted zone zone on moto and serves
// moto's zones as DNS on loopback: Pebble validates DNS-01 there, and
// certmagic finds the zone and checks propagation there (tls resolvers),
// so a challenge passes only when the record the provider wrote through
// the Route 53 API is in moto. It returns the server and the zone's id.
func startRoute53DNS(t *testing.T, zone string) (*testpeers.Route53DNS, string) {
	t.Helper()
	if moto == nil {
		t.Skip("integration test (moto_server); skipped under -short")
	}
	r53 := moto.Route53()
	out, err := r53.CreateHostedZone(t.Context(), &route53.CreateHostedZoneInput{
		Name: aws.String(zone), CallerReference: aws.String(fmt.Sprintf("%s-%d", zone, time.Now().UnixNano())),
	})
	if err != nil {
		t.Fatalf("CreateHostedZone %s: %v", zone, err)
	}
	id := strings.TrimPrefix(aws.ToString(out.HostedZone.Id), "/hostedzone/")
	t.Cleanup(func() {
		// Leave moto as it was for the other tests: empty the zone, drop it.
		sets, _ := r53.ListResourceRecordSets(t.Context(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id)})
		if sets != nil {
			for _, s := range sets.ResourceRecordSets {
				if s.Type == r53types.RRTypeTxt {
					r53.ChangeResourceRecordSets(t.Context(), &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(id),
						ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionDelete, ResourceRecordSet: &s}}}})
				}
			}
		}
		r53.DeleteHostedZone(t.Context(), &route53.DeleteHostedZoneInput{Id: aws.String(id)})
	})
	d, err := testpeers.StartRoute53DNS(r53)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	moto.AWSEnv(t.Setenv) // the provider takes the SDK's default chain
	return d, id
}

// txtSets lists the TXT record sets moto holds in zone id.
func txtSets(t *testing.T, id string) []string {
	t.Helper()
	out, err := moto.Route53().ListResourceRecordSets(t.Context(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range out.ResourceRecordSets {
		if s.Type == r53types.RRTypeTxt {
			names = append(names, aws.ToString(s.Name))
		}
	}
	return names
}

// checkWildcard waits for a certificate for *.zone on port, checks it
// answers a name under the zone, and that Pebble validated it by asking
// the Route 53 DNS for the challenge record, which is gone afterwards.
func checkWildcard(t *testing.T, p *testpeers.Pebble, d *testpeers.Route53DNS, zoneID string, port int, zone string) {
	t.Helper()
	start := time.Now()
	leaf := waitCert(t, p, port, "www."+zone)
	if want := []string{"*." + zone}; !slices.Equal(leaf.DNSNames, want) {
		t.Errorf("certificate names = %q; want %q", leaf.DNSNames, want)
	}
	if body := curlPebble(t, p, port, "shop."+zone); body != "hello over acme\n" {
		t.Errorf("curl https://shop.%s/ body = %q", zone, body)
	}
	if n := p.Issued(); n != 1 {
		t.Errorf("pebble issued %d certificates; want 1", n)
	}
	if q := "TXT _acme-challenge." + zone + "."; !slices.Contains(d.Queries(), q) {
		t.Errorf("nobody asked the Route 53 DNS %q; questions: %q", q, d.Queries())
	}
	// certmagic deletes the challenge record once the order is done.
	testpeers.WaitUntil(t, 10*time.Second, "challenge TXT record cleaned up from Route 53", func() bool { return len(txtSets(t, zoneID)) == 0 })
	t.Logf("*.%s issued by %q in %v through Route 53 (moto); DNS questions: %q", zone, leaf.Issuer.CommonName, time.Since(start).Round(time.Millisecond), d.Queries())
}

// TestDNS01Route53 obtains a wildcard certificate from Pebble through
// DNS-01 with the site's `tls { dns route53 {...} }`: the Route 53
// provider writes _acme-challenge.example.test into moto's hosted zone
// (found by name), Pebble validates it through a DNS server that reads
// moto, and the record is removed afterwards.
func TestDNS01Route53(t *testing.T) {
	d, zoneID := startRoute53DNS(t, "example.test")
	p := startPebble(t, testpeers.PebbleOptions{DNSServer: d.Addr})
	src := acmeGlobal(p, p.HTTPPort, p.TLSPort, "storage file "+t.TempDir()) + fmt.Sprintf(`
*.example.test {
	tls {
		dns route53 {
			region us-east-1
			endpoint %s
		}
		resolvers %s
	}
	file_server {
		root %s
	}
}
`, moto.URL, d.Addr, writeIndex(t))
	startProxy(t, src, nil)
	checkWildcard(t, p, d, zoneID, p.TLSPort, "example.test")
}

// TestDNS01GlobalAndEAB: the global `acme_dns route53` (with a
// hosted_zone_id) solves DNS-01 for a site whose tls block only names the
// resolvers, and the ACME account is bound with `acme_eab` to a Pebble
// that refuses accounts without External Account Binding.
func TestDNS01GlobalAndEAB(t *testing.T) {
	d, zoneID := startRoute53DNS(t, "corp.test")
	mac := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	p := startPebble(t, testpeers.PebbleOptions{DNSServer: d.Addr, EABKeys: map[string]string{"kid-tether": mac}})
	global := acmeGlobal(p, p.HTTPPort, p.TLSPort, fmt.Sprintf(`storage file %s
	acme_dns route53 {
		hosted_zone_id /hostedzone/%s
		endpoint %s
	}
	acme_eab {
		key_id kid-tether
		mac_key %s
	}`, t.TempDir(), zoneID, moto.URL, mac))
	src := global + fmt.Sprintf(`
*.corp.test {
	tls {
		resolvers %s
	}
	file_server {
		root %s
	}
}
`, d.Addr, writeIndex(t))
	startProxy(t, src, nil)
	checkWildcard(t, p, d, zoneID, p.TLSPort, "corp.test")
}

// TestACMEEABPerSite: a site's `tls { eab KEY_ID MAC_KEY }` binds its ACME
// account for a CA that requires it (HTTP-01 here, no DNS).
func TestACMEEABPerSite(t *testing.T) {
	mac := base64.RawURLEncoding.EncodeToString([]byte("site-key-site-key-site-key-0123"))
	p := startPebble(t, testpeers.PebbleOptions{EABKeys: map[string]string{"kid-site": mac}})
	src := acmeGlobal(p, p.HTTPPort, p.TLSPort, "storage file "+t.TempDir()) + fmt.Sprintf(`
eab.test {
	tls {
		eab kid-site %s
	}
	file_server {
		root %s
	}
}
`, mac, writeIndex(t))
	startProxy(t, src, nil)
	leaf := waitCert(t, p, p.TLSPort, "eab.test")
	if leaf.DNSNames[0] != "eab.test" || p.Issued() != 1 {
		t.Errorf("cert for %q, pebble issued %d; want eab.test, 1", leaf.DNSNames, p.Issued())
	}
}

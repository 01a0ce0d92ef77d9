package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// v2Header builds a PROXY v2 header: cmd 0 LOCAL / 1 PROXY, fam 0x11 or
// 0x21, plus raw TLV bytes.
func v2Header(cmd, fam byte, src, dst netip.AddrPort, tlv []byte) []byte {
	var addrs []byte
	switch fam {
	case 0x11:
		s, d := src.Addr().As4(), dst.Addr().As4()
		addrs = append(append(s[:], d[:]...), 0, 0, 0, 0)
		binary.BigEndian.PutUint16(addrs[8:], src.Port())
		binary.BigEndian.PutUint16(addrs[10:], dst.Port())
	case 0x21:
		s, d := src.Addr().As16(), dst.Addr().As16()
		addrs = append(append(s[:], d[:]...), 0, 0, 0, 0)
		binary.BigEndian.PutUint16(addrs[32:], src.Port())
		binary.BigEndian.PutUint16(addrs[34:], dst.Port())
	}
	body := append(addrs, tlv...)
	h := append([]byte{}, v2Sig...)
	h = append(h, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(h[14:], uint16(len(body)))
	return append(h, body...)
}

var (
	ap4 = netip.MustParseAddrPort("203.0.113.9:5555")
	ap6 = netip.MustParseAddrPort("[2001:db8::7]:6666")
	// awsTLV is the PP2_TYPE_AWS TLV an NLB adds (VPC endpoint id).
	awsTLV = append([]byte{0xEA, 0, 23, 0x01}, "vpce-08d2bf15fac5001c9"...)
)

func TestReadHeader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    header
		wantErr bool
	}{
		{name: "v1 tcp4", in: "PROXY TCP4 203.0.113.9 10.0.0.1 5555 443\r\n", want: header{Version: 1, Src: ap4, Dst: netip.MustParseAddrPort("10.0.0.1:443")}},
		{name: "v1 tcp6", in: "PROXY TCP6 2001:db8::7 2001:db8::1 6666 443\r\n", want: header{Version: 1, Src: ap6, Dst: netip.MustParseAddrPort("[2001:db8::1]:443")}},
		{name: "v1 unknown", in: "PROXY UNKNOWN whatever\r\n", want: header{Version: 1, Local: true}},
		{name: "v2 tcp4 with aws tlv", in: string(v2Header(1, 0x11, ap4, netip.MustParseAddrPort("10.0.0.1:443"), awsTLV)), want: header{Version: 2, Src: ap4, Dst: netip.MustParseAddrPort("10.0.0.1:443")}},
		{name: "v2 tcp6", in: string(v2Header(1, 0x21, ap6, netip.MustParseAddrPort("[2001:db8::1]:443"), nil)), want: header{Version: 2, Src: ap6, Dst: netip.MustParseAddrPort("[2001:db8::1]:443")}},
		{name: "v2 local (health check)", in: string(v2Header(0, 0x00, netip.AddrPort{}, netip.AddrPort{}, nil)), want: header{Version: 2, Local: true}},
		{name: "v1 without CRLF", in: "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", wantErr: true},
		{name: "v1 family mismatch", in: "PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n", wantErr: true},
		{name: "v1 bad port", in: "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", wantErr: true},
		{name: "v1 signed port", in: "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", wantErr: true},
		{name: "v1 too long", in: "PROXY TCP4 " + strings.Repeat("1", 200) + "\r\n", wantErr: true},
		{name: "v1 too few fields", in: "PROXY TCP4 1.2.3.4\r\n", wantErr: true},
		{name: "v2 udp", in: string(v2Header(1, 0x12, ap4, ap4, nil)), wantErr: true},
		{name: "v2 short addresses", in: string(append(append([]byte{}, v2Sig...), 0x21, 0x11, 0, 4, 1, 2, 3, 4)), wantErr: true},
		{name: "v2 huge length", in: string(append(append([]byte{}, v2Sig...), 0x21, 0x11, 0xff, 0xff)), wantErr: true},
		{name: "v2 wrong version", in: string(append(append([]byte{}, v2Sig...), 0x11, 0x11, 0, 0)), wantErr: true},
		{name: "http request", in: "GET / HTTP/1.1\r\n\r\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readHeader(bufio.NewReader(strings.NewReader(tc.in + "rest")))
			if (err != nil) != tc.wantErr || !tc.wantErr && got != tc.want {
				t.Errorf("readHeader(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// FuzzReadHeader: hostile bytes never panic, never make the parser
// read past its bounds, and a v1 header it accepts is at most 107 bytes.
func FuzzReadHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.9 10.0.0.1 5555 443\r\nGET /"))
	f.Add([]byte("PROXY TCP6 2001:db8::7 2001:db8::1 6666 443\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2Header(1, 0x11, ap4, ap4, awsTLV))
	f.Add(v2Header(1, 0x21, ap6, ap6, nil))
	f.Add(v2Header(0, 0, netip.AddrPort{}, netip.AddrPort{}, nil))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &countingReader{r: bytes.NewReader(in)}
		br := bufio.NewReaderSize(r, 16) // the parser must not depend on buffering
		h, err := readHeader(br)
		consumed := r.n - br.Buffered()
		if consumed > v2Max {
			t.Fatalf("consumed %d bytes; the bound is %d", consumed, v2Max)
		}
		if err == nil && h.Version == 1 && consumed > v1Max {
			t.Fatalf("accepted a v1 header of %d bytes", consumed)
		}
		if err == nil && !h.Local && !h.Src.IsValid() {
			t.Fatalf("accepted %+v without a source address", h)
		}
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

package replication

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func sampleEntries() []Entry {
	exp := time.Unix(1_795_000_000, 0).UTC()
	return []Entry{
		{Balancer: "app", Key: "5F3A9C.node-b", Route: "node-b", Origin: "n1", Version: MakeVersion(t0, 3), Expires: exp},
		{Balancer: "app", Key: "x", Origin: "n2", Version: MakeVersion(t0, 4), Expires: exp, Deleted: true},
		{Balancer: "shop.example.com-1", Key: "connect.sid=abc", Route: "tomcat1", Origin: "n1", Version: 1, Expires: exp},
	}
}

func TestWireRoundTrip(t *testing.T) {
	es := sampleEntries()
	m, err := decodeMessage(encodeEntries(es))
	if err != nil {
		t.Fatalf("decode entries: %v", err)
	}
	if !reflect.DeepEqual(m.entries, es) {
		t.Errorf("entries round trip = %+v; want %+v", m.entries, es)
	}
	var d [numShards]uint64
	d[7] = 42
	m, err = decodeMessage(encodeDigest(9, 100, 200, &d, 77))
	if err != nil || m.round != 9 || m.vcut != 100 || m.ecut != 200 || *m.digests != d || m.msDigest != 77 {
		t.Errorf("digest round trip = %+v, %v", m, err)
	}
	m, err = decodeMessage(encodeDigestReply(9, true, true, []uint16{1, 255}))
	if err != nil || !m.ready || !m.msDiffer || !reflect.DeepEqual(m.shards, []uint16{1, 255}) {
		t.Errorf("digest reply round trip = %+v, %v", m, err)
	}
	ms := []MemberState{{Balancer: "app", Member: "t1", State: "disabled", Origin: "n1", Version: 5}}
	m, err = decodeMessage(encodeMemberStates(ms))
	if err != nil || !reflect.DeepEqual(m.memberStates, ms) {
		t.Errorf("member states round trip = %+v, %v", m, err)
	}
	m, err = decodeMessage(encodeHello("n1", true))
	if err != nil || m.name != "n1" || !m.ready {
		t.Errorf("hello round trip = %+v, %v", m, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{name: "empty", in: nil},
		{name: "bad version", in: []byte{9, msgHello, 0, 1, 'a'}},
		{name: "unknown type", in: []byte{protoVersion, 99}},
		{name: "huge count", in: []byte{protoVersion, msgEntries, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{name: "huge string", in: []byte{protoVersion, msgHello, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{name: "trailing bytes", in: append(encodeHello("n", false), 0)},
		{name: "dict index out of range", in: []byte{protoVersion, msgEntries, 0, 1, 0, 5, 1, 'k', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{name: "short digest", in: []byte{protoVersion, msgDigest, 1, 1, 1, 0}},
		{name: "shard out of range", in: []byte{protoVersion, msgDigestReply, 1, 1, 1, 0x80, 0x02}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeMessage(tc.in); !errors.Is(err, errFormat) {
				t.Errorf("decodeMessage(%x) error = %v; want errFormat", tc.in, err)
			}
		})
	}
}

func TestKeyring(t *testing.T) {
	a, _ := newKeyring([][]byte{key1}, "prod")
	b, _ := newKeyring([][]byte{key2, key1}, "prod")
	other, _ := newKeyring([][]byte{key1}, "staging")
	var clear *keyring
	p := encodeHello("n1", false)
	f := a.seal(p)
	if got, err := b.open(nil, f[4:]); err != nil || !bytes.Equal(got, p) {
		t.Errorf("open with the second key = %x, %v; want %x", got, err, p)
	}
	if _, err := other.open(nil, f[4:]); !errors.Is(err, errAuth) {
		t.Errorf("open with another cluster label = %v; want errAuth", err)
	}
	if _, err := clear.open(nil, f[4:]); !errors.Is(err, errAuth) {
		t.Errorf("open of a sealed frame without keys = %v; want errAuth", err)
	}
	if _, err := a.open(nil, clear.seal(p)[4:]); !errors.Is(err, errAuth) {
		t.Errorf("open of a clear frame with keys = %v; want errAuth", err)
	}
	f[len(f)-1] ^= 1
	if _, err := a.open(nil, f[4:]); !errors.Is(err, errAuth) {
		t.Errorf("open of a tampered frame = %v; want errAuth", err)
	}
}

// FuzzDecode feeds hostile bytes to every stage a received frame goes
// through: the length-prefixed reader, the keyring, the decoder. None may
// panic or allocate beyond a small multiple of the input; a decoded entries
// message re-encodes to one that decodes to the same entries.
func FuzzDecode(f *testing.F) {
	f.Add(encodeEntries(sampleEntries()))
	f.Add(encodeHello("n1", true))
	var d [numShards]uint64
	f.Add(encodeDigest(1, 2, 3, &d, 4))
	f.Add(encodeDigestReply(1, true, false, []uint16{0, 3}))
	f.Add(encodeMemberStates([]MemberState{{Balancer: "a", Member: "m", State: "s", Origin: "o", Version: 1}}))
	f.Add(encodeStats([]byte(`{"b":{}}`)))
	f.Add([]byte{protoVersion, msgEntries, 0xff, 0xff, 0xff, 0xff, 0x0f})
	kr, _ := newKeyring([][]byte{key1}, "")
	f.Fuzz(func(t *testing.T, in []byte) {
		if m, err := decodeMessage(in); err == nil && m.typ == msgEntries {
			m2, err := decodeMessage(encodeEntries(m.entries))
			if err != nil || !reflect.DeepEqual(m.entries, m2.entries) && len(m.entries) > 0 {
				t.Fatalf("re-encoded entries do not round trip: %v", err)
			}
		}
		if body, err := readFrame(bytes.NewReader(in), nil, 1<<16); err == nil {
			kr.open(nil, body)
			(*keyring)(nil).open(nil, body)
		}
	})
}

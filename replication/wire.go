package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Wire format. Every frame is
//
//	length uint32 (big endian, of what follows; at most Config.MaxFrameSize)
//	envelope byte (0 clear, 1 AES-256-GCM with a 12-byte nonce and 16-byte tag)
//	body: the plaintext below, sealed when the envelope says so
//
// and the plaintext is
//
//	protoVersion byte (1)
//	type byte
//	payload
//
// Integers are unsigned varints unless given a width (then little endian);
// strings are a varint length and the bytes. Payloads:
//
//	hello          flags byte (bit 0: sender ready), node name
//	entries        dict: n, n strings (balancer, route and origin names);
//	               count; count × entry
//	entry          flags byte (bit 0: tombstone), balancer dict index, key,
//	               route dict index (absent for a tombstone), origin dict
//	               index, version uint64, expires uint32 (unix seconds)
//	digest         round, vcut, ecut (unix seconds; see digest.go),
//	               numShards × uint64 shard digests, member-state digest
//	               uint64
//	digest reply   round, flags byte (bit 0: sender ready, bit 1: member
//	               states differ), n, n × shard index
//	member states  count; count × (balancer, member, state, origin,
//	               version uint64)
//	stats          the sender's opaque counters snapshot (the rest of the
//	               frame, 1 to MaxStatsBytes bytes; see peerstats.go)
//
// The decoder never trusts a count or a length: each is checked against the
// bytes left before anything is allocated, so hostile input costs at most
// its own size.

const protoVersion = 1

const (
	msgHello        = 1
	msgEntries      = 2
	msgDigest       = 3
	msgDigestReply  = 4
	msgMemberStates = 5
	msgStats        = 6
)

const (
	minEntryBytes = 16   // a tombstone with one-byte fields and key
	maxDict       = 4096 // names in one frame's dictionary
)

var errFormat = errors.New("malformed replication frame")

// message is a decoded plaintext.
type message struct {
	typ          byte
	name         string // hello
	ready        bool   // hello, digest reply
	round        uint64 // digest, digest reply
	vcut, ecut   uint32 // digest
	digests      *[numShards]uint64
	msDigest     uint64
	msDiffer     bool
	shards       []uint16
	entries      []Entry
	memberStates []MemberState
	stats        []byte
}

func header(typ byte) []byte { return []byte{protoVersion, typ} }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeHello(name string, ready bool) []byte {
	b := header(msgHello)
	b = append(b, boolByte(ready))
	return appendString(b, name)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// encodeEntries encodes es as one entries message.
func encodeEntries(es []Entry) []byte {
	dict := make(map[string]uint64, 8)
	var names []string
	idx := func(s string) {
		if _, ok := dict[s]; !ok {
			dict[s] = uint64(len(names))
			names = append(names, s)
		}
	}
	size := 16
	for i := range es {
		idx(es[i].Balancer)
		if !es[i].Deleted {
			idx(es[i].Route)
		}
		idx(es[i].Origin)
		size += 20 + len(es[i].Key)
	}
	b := make([]byte, 0, size+len(names)*16)
	b = append(b, protoVersion, msgEntries)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = appendString(b, n)
	}
	b = binary.AppendUvarint(b, uint64(len(es)))
	for i := range es {
		e := &es[i]
		b = append(b, boolByte(e.Deleted))
		b = binary.AppendUvarint(b, dict[e.Balancer])
		b = appendString(b, e.Key)
		if !e.Deleted {
			b = binary.AppendUvarint(b, dict[e.Route])
		}
		b = binary.AppendUvarint(b, dict[e.Origin])
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Version))
		b = binary.LittleEndian.AppendUint32(b, unixSec(e.Expires))
	}
	return b
}

func encodeDigest(round uint64, vcut, ecut uint32, d *[numShards]uint64, ms uint64) []byte {
	b := make([]byte, 0, 2+20+numShards*8+8)
	b = append(b, protoVersion, msgDigest)
	b = binary.AppendUvarint(b, round)
	b = binary.AppendUvarint(b, uint64(vcut))
	b = binary.AppendUvarint(b, uint64(ecut))
	for _, v := range d {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return binary.LittleEndian.AppendUint64(b, ms)
}

func encodeDigestReply(round uint64, ready, msDiffer bool, shards []uint16) []byte {
	b := header(msgDigestReply)
	b = binary.AppendUvarint(b, round)
	b = append(b, boolByte(ready)|boolByte(msDiffer)<<1)
	b = binary.AppendUvarint(b, uint64(len(shards)))
	for _, s := range shards {
		b = binary.AppendUvarint(b, uint64(s))
	}
	return b
}

func encodeMemberStates(ms []MemberState) []byte {
	b := header(msgMemberStates)
	b = binary.AppendUvarint(b, uint64(len(ms)))
	for _, m := range ms {
		b = appendString(b, m.Balancer)
		b = appendString(b, m.Member)
		b = appendString(b, m.State)
		b = appendString(b, m.Origin)
		b = binary.LittleEndian.AppendUint64(b, uint64(m.Version))
	}
	return b
}

func encodeStats(data []byte) []byte {
	return append(header(msgStats), data...)
}

// decoder reads a plaintext; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err = errFormat; d.b = nil }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items of at least min bytes each, capped by what
// is left.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if d.err != nil || v > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) string(maxLen int) string {
	n := d.uvarint()
	if d.err != nil || n > uint64(maxLen) || n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) u32() uint32 {
	if len(d.b) < 4 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

// decodeMessage decodes a plaintext. It never panics and allocates at most
// a small multiple of len(p).
func decodeMessage(p []byte) (message, error) {
	d := decoder{b: p}
	var m message
	if v := d.byte(); d.err == nil && v != protoVersion {
		return m, fmt.Errorf("%w: protocol version %d", errFormat, v)
	}
	m.typ = d.byte()
	switch m.typ {
	case msgHello:
		m.ready = d.byte()&1 != 0
		m.name = d.string(MaxNameLen)
		if d.err == nil && m.name == "" {
			d.fail()
		}
	case msgEntries:
		nd := d.count(1)
		if nd > maxDict {
			d.fail()
		}
		dict := make([]string, 0, nd)
		for i := 0; i < nd && d.err == nil; i++ {
			dict = append(dict, d.string(MaxNameLen))
		}
		name := func() string {
			i := d.uvarint()
			if d.err != nil || i >= uint64(len(dict)) {
				d.fail()
				return ""
			}
			return dict[i]
		}
		n := d.count(minEntryBytes)
		m.entries = make([]Entry, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			var e Entry
			f := d.byte()
			if f > 1 {
				d.fail()
			}
			e.Deleted = f == 1
			e.Balancer = name()
			e.Key = d.string(MaxKeyLen)
			if !e.Deleted {
				e.Route = name()
			}
			e.Origin = name()
			e.Version = Version(d.u64())
			e.Expires = time.Unix(int64(d.u32()), 0).UTC()
			m.entries = append(m.entries, e)
		}
	case msgDigest:
		m.round = d.uvarint()
		vcut, ecut := d.uvarint(), d.uvarint()
		if vcut > math.MaxUint32 || ecut > math.MaxUint32 {
			d.fail()
		}
		m.vcut, m.ecut = uint32(vcut), uint32(ecut)
		if len(d.b) != numShards*8+8 {
			d.fail()
			break
		}
		m.digests = new([numShards]uint64)
		for i := range m.digests {
			m.digests[i] = d.u64()
		}
		m.msDigest = d.u64()
	case msgDigestReply:
		m.round = d.uvarint()
		f := d.byte()
		m.ready, m.msDiffer = f&1 != 0, f&2 != 0
		n := d.count(1)
		if n > numShards {
			d.fail()
		}
		for i := 0; i < n && d.err == nil; i++ {
			s := d.uvarint()
			if s >= numShards {
				d.fail()
			}
			m.shards = append(m.shards, uint16(s))
		}
	case msgMemberStates:
		n := d.count(12)
		m.memberStates = make([]MemberState, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			var s MemberState
			s.Balancer = d.string(MaxNameLen)
			s.Member = d.string(MaxNameLen)
			s.State = d.string(MaxNameLen)
			s.Origin = d.string(MaxNameLen)
			s.Version = Version(d.u64())
			m.memberStates = append(m.memberStates, s)
		}
	case msgStats:
		if len(d.b) == 0 || len(d.b) > MaxStatsBytes {
			d.fail()
			break
		}
		m.stats = append([]byte(nil), d.b...) // the frame buffer is reused
		d.b = nil
	default:
		if d.err == nil {
			return m, fmt.Errorf("%w: unknown type %d", errFormat, m.typ)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return message{}, d.err
	}
	return m, nil
}

// readFrame reads one frame body (after the length) into buf, growing it as
// needed up to maxSize.
func readFrame(r io.Reader, buf []byte, maxSize int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return buf, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n < 1 || n > maxSize {
		return buf, fmt.Errorf("%w: frame of %d bytes", errFormat, n)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, err
	}
	return buf, nil
}

package ajp

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
)

// Wire constants of AJP13 (Tomcat's org.apache.coyote.ajp.Constants and the
// ajpv13a protocol notes).
const (
	headerLen = 4 // magic (2) + payload length (2)

	// Packets from the proxy start with 0x12 0x34, packets from the container with "AB".
	magicToServer0, magicToServer1 = 0x12, 0x34
	magicToProxy0, magicToProxy1   = 'A', 'B'

	// Message types, proxy → container.
	typeForwardRequest = 2
	typeCPing          = 10

	// Message types, container → proxy.
	typeSendBodyChunk = 3
	typeSendHeaders   = 4
	typeEndResponse   = 5
	typeGetBodyChunk  = 6
	typeCPong         = 9

	// methodStored is the method byte for a method without a code; the name
	// follows as attribute attrStoredMethod.
	methodStored = 0xFF

	// Request attributes.
	attrQueryString  = 0x05
	attrSSLCert      = 0x07
	attrSSLCipher    = 0x08
	attrSSLSession   = 0x09
	attrReqAttribute = 0x0A
	attrSSLKeySize   = 0x0B
	attrSecret       = 0x0C
	attrStoredMethod = 0x0D
	attrAreDone      = 0xFF

	// nullString is the length that marks a null string (no bytes follow).
	nullString = 0xFFFF

	// headerCodeMark is the high byte of a coded header name; Tomcat tells a
	// code from a string length by it, so header-name strings stay shorter.
	headerCodeMark = 0xA0
)

// DefaultPacketSize is AJP's packet size unless both ends are configured
// otherwise (mod_jk max_packet_size, Tomcat packetSize).
const DefaultPacketSize = 8192

// MaxPacketSize is the largest packet size AJP13 allows.
const MaxPacketSize = 65536

// methodCodes are the method bytes of AJP13; other methods travel as stored methods.
var methodCodes = map[string]byte{
	"OPTIONS": 1, "GET": 2, "HEAD": 3, "POST": 4, "PUT": 5, "DELETE": 6, "TRACE": 7,
	"PROPFIND": 8, "PROPPATCH": 9, "MKCOL": 10, "COPY": 11, "MOVE": 12, "LOCK": 13,
	"UNLOCK": 14, "ACL": 15, "REPORT": 16, "VERSION-CONTROL": 17, "CHECKIN": 18,
	"CHECKOUT": 19, "UNCHECKOUT": 20, "SEARCH": 21, "MKWORKSPACE": 22, "UPDATE": 23,
	"LABEL": 24, "MERGE": 25, "BASELINE-CONTROL": 26, "MKACTIVITY": 27,
}

// requestHeaderCodes maps lower-case request header names to their codes (0xA0nn).
var requestHeaderCodes = map[string]uint16{
	"accept": 0xA001, "accept-charset": 0xA002, "accept-encoding": 0xA003,
	"accept-language": 0xA004, "authorization": 0xA005, "connection": 0xA006,
	"content-type": 0xA007, "content-length": 0xA008, "cookie": 0xA009,
	"cookie2": 0xA00A, "host": 0xA00B, "pragma": 0xA00C, "referer": 0xA00D,
	"user-agent": 0xA00E,
}

// responseHeaderNames are the response header codes 0xA001 … 0xA00B, in order.
var responseHeaderNames = [...]string{
	"Content-Type", "Content-Language", "Content-Length", "Date", "Last-Modified",
	"Location", "Set-Cookie", "Set-Cookie2", "Servlet-Engine", "Status", "WWW-Authenticate",
}

// packetWriter appends one proxy → container packet to buf. It records
// overflow instead of failing each call; check full once at the end.
type packetWriter struct {
	buf  []byte
	max  int // largest total packet size, header included
	full bool
}

func newPacketWriter(buf []byte, max int) *packetWriter {
	return &packetWriter{buf: append(buf[:0], magicToServer0, magicToServer1, 0, 0), max: max}
}

func (w *packetWriter) byte(b byte) { w.buf = append(w.buf, b) }

func (w *packetWriter) int(v int) { w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(v)) }

func (w *packetWriter) bool(b bool) {
	if b {
		w.byte(1)
	} else {
		w.byte(0)
	}
}

// string appends an AJP string: length, bytes, NUL. Strings of 0xFFFF bytes
// or more cannot be encoded and mark the packet as full.
func (w *packetWriter) string(s string) {
	if len(s) >= nullString || len(w.buf)+len(s)+3 > w.max {
		w.full = true
		return
	}
	w.int(len(s))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, 0)
}

// finish writes the payload length into the header and reports whether the
// packet fits.
func (w *packetWriter) finish() ([]byte, bool) {
	if w.full || len(w.buf) > w.max {
		return nil, false
	}
	binary.BigEndian.PutUint16(w.buf[2:4], uint16(len(w.buf)-headerLen))
	return w.buf, true
}

// ProtocolError reports a packet from the backend that breaks AJP13: bad
// magic, lengths beyond the packet, truncated strings, unknown or unexpected
// message types. The connection it came on is closed.
type ProtocolError struct {
	Msg string
}

func (e *ProtocolError) Error() string { return "ajp: protocol error: " + e.Msg }

func protoErr(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// packetReader decodes the payload of one container → proxy packet. Every
// read is bounds-checked; the first failure sticks in err.
type packetReader struct {
	b   []byte
	off int
	err error
}

func (r *packetReader) fail(what string) {
	if r.err == nil {
		r.err = protoErr("%s truncated at offset %d of %d-byte packet", what, r.off, len(r.b))
	}
}

func (r *packetReader) int() int {
	if r.err != nil || r.off+2 > len(r.b) {
		r.fail("integer")
		return 0
	}
	v := int(binary.BigEndian.Uint16(r.b[r.off:]))
	r.off += 2
	return v
}

// peekInt returns the next integer without consuming it.
func (r *packetReader) peekInt() (int, bool) {
	if r.err != nil || r.off+2 > len(r.b) {
		r.fail("integer")
		return 0, false
	}
	return int(binary.BigEndian.Uint16(r.b[r.off:])), true
}

// string reads an AJP string; null reads as "".
func (r *packetReader) string() string {
	n := r.int()
	if r.err != nil || n == nullString {
		return ""
	}
	if r.off+n+1 > len(r.b) {
		r.fail("string")
		return ""
	}
	s := string(r.b[r.off : r.off+n])
	r.off += n + 1 // the NUL terminator is not checked: Tomcat always writes it
	return s
}

// statusText returns the reason phrase for a response. Tomcat sends the
// numeric code as the message ("200"), which would surface as
// "HTTP/1.1 200 200"; canonical phrases replace numeric or empty ones.
func statusText(code int, msg string) string {
	if msg == "" || msg == strconv.Itoa(code) {
		if t := http.StatusText(code); t != "" {
			return t
		}
	}
	return msg
}

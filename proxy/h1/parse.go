package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strings"
)

// readResponse reads a member's answer from br as http.ReadResponse does,
// and gives the same *http.Response. The common answer (HTTP/1.x, a status
// from 200 to 599 other than 204 and 304, to a method other than HEAD, a
// body framed by one Content-Length, no Transfer-Encoding or Trailer, a
// head already in the buffer, every line in the plain form) is parsed in
// place, with one allocation for the head's text; every other answer is
// left to http.ReadResponse, which reads the same bytes (nothing is
// consumed until the head is known to be one this parser reads).
// FuzzReadResponseLikeNetHTTP holds the two side by side.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	// Wait for the answer's first bytes (a failed wait is reported by
	// http.ReadResponse, which meets the same error).
	if _, err := br.Peek(1); err == nil {
		if resp := parseCommon(br, req); resp != nil {
			return resp, nil
		}
	}
	return http.ReadResponse(br, req)
}

// parseCommon parses the head in br's buffer if it is a common one (see
// readResponse) and consumes it; nil, consuming nothing, for any other.
func parseCommon(br *bufio.Reader, req *http.Request) *http.Response {
	if req != nil && req.Method == http.MethodHead {
		return nil
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		return nil
	}
	raw := buf[:end+2] // the status line and fields, each ending in CRLF
	// Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF.
	nl := bytes.IndexByte(raw, '\n')
	if nl < 13 || raw[nl-1] != '\r' {
		return nil
	}
	line := raw[:nl-1]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[7] != '0' && line[7] != '1' || line[8] != ' ' ||
		len(line) > 12 && line[12] != ' ' || line[9] == ' ' {
		return nil
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return nil
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil
	}
	for _, c := range line {
		if c < ' ' && c != '\t' || c == 0x7f {
			return nil
		}
	}
	// Fields: count them and check their form before allocating.
	fields := raw[nl+1:]
	n := 0
	for rest := fields; len(rest) > 0; n++ {
		i := bytes.IndexByte(rest, '\n')
		if i < 1 || rest[i-1] != '\r' || !plainField(rest[:i-1]) {
			return nil
		}
		rest = rest[i+1:]
	}
	text := string(raw) // the one allocation for the head's text
	resp := &http.Response{
		Status:     text[9 : nl-1],
		StatusCode: code,
		Proto:      text[:8],
		ProtoMajor: 1,
		ProtoMinor: int(line[7] - '0'),
		Header:     make(http.Header, n),
		Request:    req,
	}
	values := make([]string, n) // the fields' values, as textproto keeps them
	s := text[nl+1:]
	var cl string
	ncl := 0
	for i := 0; len(s) > 0; i++ {
		eol := strings.IndexByte(s, '\n')
		f := s[:eol-1]
		s = s[eol+1:]
		colon := strings.IndexByte(f, ':')
		key := canonicalKey(f[:colon])
		v := strings.Trim(f[colon+1:], " \t")
		switch key {
		case "Transfer-Encoding", "Trailer":
			return nil
		case "Content-Length":
			cl = v
			ncl++
		}
		values[i] = v
		if vv := resp.Header[key]; vv != nil {
			resp.Header[key] = append(vv, v)
		} else {
			resp.Header[key] = values[i : i+1 : i+1]
		}
	}
	if ncl != 1 || cl == "" || len(cl) > 18 {
		return nil
	}
	length := int64(0)
	for i := 0; i < len(cl); i++ {
		if cl[i] < '0' || cl[i] > '9' {
			return nil
		}
		length = length*10 + int64(cl[i]-'0')
	}
	if pragma := resp.Header["Pragma"]; len(pragma) > 0 && pragma[0] == "no-cache" {
		if _, ok := resp.Header["Cache-Control"]; !ok {
			resp.Header["Cache-Control"] = []string{"no-cache"}
		}
	}
	conn := resp.Header["Connection"]
	hasClose := HasToken(conn, "close")
	if resp.ProtoMinor == 0 {
		resp.Close = hasClose || !HasToken(conn, "keep-alive")
	} else {
		resp.Close = hasClose
		if hasClose {
			delete(resp.Header, "Connection")
		}
	}
	resp.ContentLength = length
	if _, err := br.Discard(end + 4); err != nil {
		return nil // cannot happen: the bytes are buffered
	}
	if length == 0 {
		resp.Body = http.NoBody
	} else {
		resp.Body = &lengthBody{br: br, n: length}
	}
	return resp
}

var crlfcrlf = []byte("\r\n\r\n")

// plainField reports whether a field line (without its CRLF) is in the
// form parseCommon reads: a token, a colon, and a value of visible bytes,
// spaces and tabs (and bytes from 0x80, as net/http allows).
func plainField(f []byte) bool {
	colon := bytes.IndexByte(f, ':')
	if colon < 1 {
		return false
	}
	for _, c := range f[:colon] {
		if !isTokenByte(c) {
			return false
		}
	}
	for _, c := range f[colon+1:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey(k) for a token k,
// without an allocation when k is already in canonical form (as members
// send it).
func canonicalKey(k string) string {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return textproto.CanonicalMIMEHeaderKey(k)
		}
		upper = c == '-'
	}
	return k
}

// HasToken reports whether the comma-separated values hold token, as
// httpguts.HeaderValuesContainsToken: case-insensitive, blanks around
// each element ignored.
func HasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.Trim(elem, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// lengthBody is a body of n more bytes in br. Ending early is
// io.ErrUnexpectedEOF, as with net/http's body.
type lengthBody struct {
	br *bufio.Reader
	n  int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.n -= int64(n)
	if err == io.EOF {
		if b.n > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }

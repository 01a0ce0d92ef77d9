package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tether-proxy/tether/internal/testpeers"
)

// hostileRequest is one request a client forges to fake or break log lines.
type hostileRequest struct {
	name             string
	target           string // as sent on the request line
	host             string // "" sends the proxy's address
	referer, ua      string // "" sends none
	want             string // the logged target; "" means target
	wantHost         string // the logged host (json), when host is set
	forbiddenInLines string // must not appear in the log
}

var hostileRequests = []hostileRequest{
	{name: "encoded CR LF in path", target: "/a%0D%0Ab%0a"},
	{name: "encoded quote backslash NUL in query", target: "/q?x=%22%5C%00&y=%0A"},
	{name: "raw quote and backslash in path", target: `/raw"q\b\"`},
	{name: "raw UTF-8 and a line separator", target: "/utf8/\u00e9\u2028x"},
	{name: "raw bytes 0xff 0xfe", target: "/ff/\xff\xfe%7F"},
	{name: "absolute form", target: "http://evil.example/%0A%22", want: "http://evil.example/%0A%22", host: "evil.example", wantHost: "evil.example"},
	{name: "path parameters raw and encoded", target: "/app;jsessionid=SECRET1.t1/x%3Bjsessionid=SECRET2.t1/y%3bjsessionid=SECRET3/z?q=1", want: "/app/x/y/z?q=1", forbiddenInLines: "SECRET"},
	{name: "hostile referer and user agent", target: "/h", referer: "x\" 200 1 \"\\\t\xff\xc3\xa9", ua: "ua\\\" \"-\" \t\xc3(\""},
	{name: "no referer, no user agent", target: "/plain"},
	{name: "hostile host", target: "/host", host: "h.example%0a'(x);=~", wantHost: "h.example%0a'(x);=~"},
}

// sendRaw writes one request over a new connection and reads the answer.
func sendRaw(t *testing.T, addr string, hr hostileRequest) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	host := hr.host
	if host == "" {
		host = addr
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", hr.target, host)
	if hr.referer != "" {
		fmt.Fprintf(&b, "Referer: %s\r\n", hr.referer)
	}
	if hr.ua != "" {
		fmt.Fprintf(&b, "User-Agent: %s\r\n", hr.ua)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", hr.name, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// logLines waits for n lines in the file and returns them.
func logLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	testpeers.WaitUntil(t, 5*time.Second, fmt.Sprintf("%d access log lines", n), func() bool {
		data, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		return len(data) > 0 && len(lines) >= n
	})
	return lines
}

// combinedLine is Apache's combined format with escaped fields.
var combinedLine = regexp.MustCompile(`^(\S+) - - \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$`)

// unescapeLogItem reverses appendLogItem.
func unescapeLogItem(t *testing.T, s string) string {
	t.Helper()
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'b':
			b = append(b, '\b')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'v':
			b = append(b, '\v')
		case 'x':
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			b = append(b, byte(v))
			i += 2
		default:
			b = append(b, s[i])
		}
	}
	return string(b)
}

var ansiCodes = regexp.MustCompile("\x1b\\[[0-9;]*m")

// Hostile bytes in the request line, Referer, User-Agent and Host never
// start a new line or fake a field, in any format: one line per request,
// each parses, and what it holds is what the client sent (escaped).
func TestAccessLogCannotBeForged(t *testing.T) {
	app := newBackend(t, "tomcat1", nil)
	for _, format := range []string{"combined", "json", "console"} {
		t.Run(format, func(t *testing.T) {
			logf := filepath.Join(t.TempDir(), "access.log")
			src := strings.Replace(oneBalancer("tomcat1=http://"+app.hostport(), ""), "http://127.0.0.1:0 {",
				"http://127.0.0.1:0 {\n\taccess_log "+logf+" "+format, 1)
			_, site := startProxy(t, src, nil)
			addr := strings.TrimPrefix(site, "http://")
			for i, hr := range hostileRequests {
				if code := sendRaw(t, addr, hr); code >= 400 && code != 404 {
					t.Errorf("%s: status %d", hr.name, code)
				}
				logLines(t, logf, i+1) // in order, one at a time
			}
			lines := logLines(t, logf, len(hostileRequests))
			if len(lines) != len(hostileRequests) {
				t.Fatalf("%d requests wrote %d lines:\n%s", len(hostileRequests), len(lines), strings.Join(lines, "\n"))
			}
			for i, hr := range hostileRequests {
				line := lines[i]
				want := hr.want
				if want == "" {
					want = hr.target
				}
				if hr.forbiddenInLines != "" && strings.Contains(line, hr.forbiddenInLines) {
					t.Errorf("%s: the line holds %q: %s", hr.name, hr.forbiddenInLines, line)
				}
				switch format {
				case "combined":
					if i := strings.IndexFunc(line, func(r rune) bool { return r < 0x20 || r > 0x7e }); i >= 0 {
						t.Errorf("%s: byte %q unescaped in %q", hr.name, line[i], line)
					}
					m := combinedLine.FindStringSubmatch(line)
					if m == nil {
						t.Errorf("%s: not a combined line: %s", hr.name, line)
						continue
					}
					if got := unescapeLogItem(t, m[3]); got != "GET "+want+" HTTP/1.1" {
						t.Errorf("%s: request %q; want %q", hr.name, got, "GET "+want+" HTTP/1.1")
					}
					for _, f := range []struct{ name, got, sent string }{{"Referer", m[6], hr.referer}, {"User-Agent", m[7], hr.ua}} {
						wantF := f.sent
						if wantF == "" {
							wantF = "-"
						}
						if got := unescapeLogItem(t, f.got); got != wantF {
							t.Errorf("%s: %s %q; want %q", hr.name, f.name, got, wantF)
						}
					}
				case "json":
					var ev struct{ URI, Host, Method, Client string }
					if err := json.Unmarshal([]byte(line), &ev); err != nil {
						t.Errorf("%s: not JSON: %v: %s", hr.name, err, line)
						continue
					}
					if utf8.ValidString(want) && ev.URI != want {
						t.Errorf("%s: uri %q; want %q", hr.name, ev.URI, want)
					}
					if hr.wantHost != "" && ev.Host != hr.wantHost {
						t.Errorf("%s: host %q; want %q", hr.name, ev.Host, hr.wantHost)
					}
				case "console":
					plain := ansiCodes.ReplaceAllString(line, "")
					if i := strings.IndexFunc(plain, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
						t.Errorf("%s: control byte %q in %q", hr.name, plain[i], plain)
					}
					_, v, ok := strings.Cut(plain, " uri=")
					if !ok {
						t.Errorf("%s: no uri field: %s", hr.name, plain)
						continue
					}
					if strings.HasPrefix(v, `"`) {
						uq, err := strconv.Unquote(v)
						if err != nil {
							t.Errorf("%s: uri %s does not unquote: %v", hr.name, v, err)
							continue
						}
						v = uq
					}
					if utf8.ValidString(want) && v != want {
						t.Errorf("%s: uri %q; want %q", hr.name, v, want)
					}
				}
			}
		})
	}
}

func TestAppendLogItem(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{in: "plain /a?b=c", want: "plain /a?b=c"},
		{in: "q\"b\\", want: `q\"b\\`},
		{in: "\b\n\r\t\v", want: `\b\n\r\t\v`},
		{in: "\x00\x01\x1b\x7f", want: `\x00\x01\x1b\x7f`},
		{in: "é\xff", want: `\xc3\xa9\xff`},
	} {
		if got := string(appendLogItem(nil, tc.in)); got != tc.want {
			t.Errorf("appendLogItem(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestLoggedURI(t *testing.T) {
	for _, tc := range []struct {
		name, requestURI, url, want string
	}{
		{name: "raw target kept", requestURI: "/a%0Ab?x=%0D", want: "/a%0Ab?x=%0D"},
		{name: "parameters cut", requestURI: "/app;jsessionid=S.t1/x;v=1?q=;a", want: "/app/x?q=;a"},
		{name: "encoded parameter cut", requestURI: "/app%3Bjsessionid=S.t1/x%3bk=v", want: "/app/x"},
		{name: "parameter to the end", requestURI: "/a;jsessionid=S%2Fb", want: "/a"},
		{name: "no RequestURI (HTTP/2 built in process)", url: "http://h/a%0Ab;jsessionid=S/c?x=%22", want: "/a%0Ab/c?x=%22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RequestURI: tc.requestURI, URL: &url.URL{}}
			if tc.url != "" {
				u, err := url.Parse(tc.url)
				if err != nil {
					t.Fatal(err)
				}
				r.URL = u
			}
			if got := loggedURI(r); got != tc.want {
				t.Errorf("loggedURI(%q, %q) = %q; want %q", tc.requestURI, tc.url, got, tc.want)
			}
		})
	}
}

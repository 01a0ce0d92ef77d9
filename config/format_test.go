package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{name: "empty", in: "", want: ""},
		{name: "indentation", in: "a.com {\nreverse_proxy http://x {\n      lb_policy   random\n}\n   }", want: "a.com {\n\treverse_proxy http://x {\n\t\tlb_policy random\n\t}\n}\n"},
		{name: "blank lines collapse", in: "\n\n{\n\n\tadmin off\n\n\n\temail a@b\n\n}\n\n\n\na.com {\n}\n\n", want: "{\n\tadmin off\n\n\temail a@b\n}\n\na.com {\n}\n"},
		{name: "comments kept", in: "# head\na.com {   # trailing\n  # own line\n  root /x    # why\n}", want: "# head\na.com { # trailing\n\t# own line\n\troot /x # why\n}\n"},
		{name: "tokens kept as written", in: "a.com {\n  root   \"/a b\"   `c d`  {$X:y}\n}", want: "a.com {\n\troot \"/a b\" `c d` {$X:y}\n}\n"},
		{name: "heredoc verbatim", in: "a.com {\n        x <<EOF\n    body\n    EOF   y\n}", want: "a.com {\n\tx <<EOF\n    body\n    EOF y\n}\n"},
		{name: "crlf", in: "a.com {\r\n  root /x\r\n}\r\n", want: "a.com {\n\troot /x\n}\n"},
		{name: "snippets and imports", in: "(s) {\nroot {args[0]}\n}\na.com {\nimport s /x\n}", want: "(s) {\n\troot {args[0]}\n}\na.com {\n\timport s /x\n}\n"},
		{name: "unbalanced close", in: "}\n}\na", want: "}\n}\na\n"},
		{name: "lex error unchanged", in: "a \"b", want: "a \"b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Format([]byte(tc.in)))
			if got != tc.want {
				t.Errorf("Format(%q) = %q; want %q", tc.in, got, tc.want)
			}
			if again := string(Format([]byte(got))); again != got {
				t.Errorf("Format(Format(%q)) = %q; not idempotent", tc.in, again)
			}
		})
	}
}

// zeroPos clears every Pos in v, so configs parsed from differently laid
// out sources compare equal.
func zeroPos(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			zeroPos(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == posType {
			v.Set(reflect.Zero(posType))
			return
		}
		for i := range v.NumField() {
			zeroPos(v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			zeroPos(v.Index(i))
		}
	}
}

// fuzzOptions parse without touching the file system.
var fuzzOptions = ParseOptions{
	LookupEnv: envOf(testEnv),
	ReadFile:  func(string) ([]byte, error) { return nil, os.ErrNotExist },
	Glob:      func(string) ([]string, error) { return nil, nil },
}

// checkFormat asserts Format's contract on src: idempotent, and parsing
// the formatted text gives the config src gives.
func checkFormat(t *testing.T, src []byte) {
	t.Helper()
	formatted := Format(src)
	if again := Format(formatted); string(again) != string(formatted) {
		t.Fatalf("Format is not idempotent:\nsrc:    %q\nonce:   %q\ntwice:  %q", src, formatted, again)
	}
	cfg, err := fuzzOptions.Parse("Caddyfile", src)
	if err != nil {
		return
	}
	cfg2, err := fuzzOptions.Parse("Caddyfile", formatted)
	if err != nil {
		t.Fatalf("formatted config does not parse: %v\nsrc:       %q\nformatted: %q", err, src, formatted)
	}
	zeroPos(reflect.ValueOf(cfg))
	zeroPos(reflect.ValueOf(cfg2))
	if a, b := dump(cfg), dump(cfg2); a != b {
		t.Fatalf("Parse(Format(src)) differs from Parse(src):\nsrc:       %q\nformatted: %q\n%s", src, formatted, lineDiff(a, b))
	}
}

func TestFormatGoldenInputs(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.Caddyfile")
	files = append(files, "../Caddyfile.example")
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			opts := ParseOptions{LookupEnv: envOf(testEnv)}
			cfg, err := opts.Parse(f, src)
			if err != nil {
				t.Fatal(err)
			}
			formatted := Format(src)
			cfg2, err := opts.Parse(f, formatted)
			if err != nil {
				t.Fatalf("Format(%s) does not parse: %v", f, err)
			}
			zeroPos(reflect.ValueOf(cfg))
			zeroPos(reflect.ValueOf(cfg2))
			if a, b := dump(cfg), dump(cfg2); a != b {
				t.Errorf("Parse(Format(%s)) differs: %s", f, lineDiff(a, b))
			}
			if again := Format(formatted); string(again) != string(formatted) {
				t.Errorf("Format(%s) is not idempotent", f)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.Caddyfile")
	corpus, _ := filepath.Glob("testdata/caddyfiles/*.Caddyfile")
	for _, name := range append(append(files, corpus...), "../Caddyfile.example") {
		if src, err := os.ReadFile(name); err == nil {
			f.Add(src)
		}
	}
	for _, s := range []string{
		"", "{\n}", "a.com", "a.com {\n}", "a.com {}", "{\n\tadmin off\n}\na.com {\n\treverse_proxy http://x\n}",
		"a.com {\n\treverse_proxy /a/* t1=http://x:1 {\n\t\tbackend t2 ajp://y {\n\t\t\tredirect t1\n\t\t}\n\t}\n}",
		"(s) {\n\troot {args[0]}\n}\na.com {\n\timport s /x\n\tfile_server\n}",
		"a.com {\n\troot <<EOF\n\t/x\n\tEOF\n\tfile_server\n}", "a.com {\n\troot \"a\\\"b\" # c\n\tfile_server\n}",
		"a.com,\nb.com {\n}", "{$X:a.com} {\n}", "a.com {\n\ttrusted_proxies {$SEEDS}\n}",
		"a.com {\n\trespond \"{env.A}{env.}{env.B\"\n}", "{\n\tservers :80 {\n\t\tprotocols h2c\n\t}\n}\nhttp://:80 {\n}",
		"a.com {\n\troot @x /y\n\ttry_files {path} =404\n\thandle_errors 5xx {\n\t\terror x 500\n\t}\n}",
		"a\"b\" `c`d \"e\"#f",
		"a.com {\n\treverse_proxy x:1 {\n\t\tretry_budget 20% min 3 window 10s\n\t\toutlier {\n\t\t\tmax_ejection 50%\n\t\t}\n\t\thealth_headers {\n\t\t\tHost a\n\t\t}\n\t}\n}", "x <<A\nA <<B\nB\n", "a {\n\tb {\n\t}\n}\n}", "\r\n\r\n a\r b",
		"a\"b\" `c`d \"e\"#f", "x <<A\nA <<B\nB\n", "a {\n\tb {\n\t}\n}\n}", "\r\n\r\n a\r b",
		"a.com {\n\treverse_proxy {\n\t\tbackend t1 ajp://x {\n\t\t\tmax_conns 2\n\t\t}\n\t\tmax_requests 8\n\t\tmax_queue 10\n\t\tqueue_timeout 2s\n\t\tslow_start 30s\n\t}\n}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 1<<16 {
			return
		}
		checkFormat(t, src)
	})
}

package config

import (
	"fmt"
	"strings"
	"testing"
)

// tokString renders tokens as "line:col[^]kind=text" items, ^ marking the
// first token of a line, for compact expectations.
func tokString(toks []token) string {
	var parts []string
	for _, t := range toks {
		first := ""
		if t.first {
			first = "^"
		}
		kind := map[tokenKind]string{tokWord: "w", tokQuoted: "q", tokBacktick: "b", tokHeredoc: "h", tokComment: "c"}[t.kind]
		parts = append(parts, fmt.Sprintf("%d:%d%s%s=%q", t.pos.Line, t.pos.Col, first, kind, t.text))
	}
	return strings.Join(parts, " ")
}

func TestLex(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{name: "words and lines", src: "a b\n  c", want: `1:1^w="a" 1:3w="b" 2:3^w="c"`},
		{name: "comment dropped", src: "a # b c\n#x\nd", want: `1:1^w="a" 3:1^w="d"`},
		{name: "hash inside word", src: "a#b", want: `1:1^w="a#b"`},
		{name: "quoted with escapes", src: `x "a \"b\" \\ \n"`, want: `1:1^w="x" 1:3q="a \"b\" \\ \\n"`},
		{name: "quoted spans lines", src: "\"a\nb\" c\nd", want: `1:1^q="a\nb" 2:4w="c" 3:1^w="d"`},
		{name: "quote ends token", src: `"a"b`, want: `1:1^q="a" 1:4w="b"`},
		{name: "quote inside word", src: `a"b"`, want: `1:1^w="a\"b\""`},
		{name: "backtick raw", src: "`a \\\" {$X}\nb` c", want: `1:1^b="a \\\" {$X}\nb" 2:4w="c"`},
		{name: "heredoc", src: "respond <<EOF\n\thello\n\t  world\n\tEOF 200\nnext", want: `1:1^w="respond" 1:9h="hello\n  world" 4:6w="200" 5:1^w="next"`},
		{name: "heredoc blank line", src: "x <<END\n  a\n\n  b\n  END", want: `1:1^w="x" 1:3h="a\n\nb"`},
		{name: "heredoc crlf", src: "x <<END\r\n  a\r\n  END\r\ny", want: `1:1^w="x" 1:3h="a" 4:1^w="y"`},
		{name: "not a heredoc", src: "a << <<a.b", want: `1:1^w="a" 1:3w="<<" 1:6w="<<a.b"`},
		{name: "braces", src: "a {\n}\nb {}", want: `1:1^w="a" 1:3w="{" 2:1^w="}" 3:1^w="b" 3:3w="{}"`},
		{name: "crlf", src: "a\r\nb\r\n", want: `1:1^w="a" 2:1^w="b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toks, err := lex("f", []byte(tc.src), false)
			if err != nil {
				t.Fatalf("lex(%q) error: %v", tc.src, err)
			}
			if got := tokString(toks); got != tc.want {
				t.Errorf("lex(%q) =\n%s\nwant\n%s", tc.src, got, tc.want)
			}
		})
	}
}

func TestLexErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{name: "unterminated quote", src: "a\n  \"b", want: "f:2:3: unterminated quoted string"},
		{name: "unterminated backtick", src: "`b", want: "f:1:1: unterminated backtick string"},
		{name: "heredoc not closed", src: "x <<EOF\na\n", want: "f:1:3: heredoc <<EOF is not closed"},
		{name: "heredoc at end of file", src: "x <<EOF", want: "f:1:3: heredoc <<EOF is not closed"},
		{name: "heredoc marker not alone", src: "x <<EOF y\nEOF", want: "f:1:3: heredoc marker <<EOF must end its line"},
		{name: "heredoc indentation", src: "x <<EOF\n a\n  EOF", want: "f:2:1: heredoc line is not indented like its closing marker EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lex("f", []byte(tc.src), false)
			if err == nil || err.Error() != tc.want {
				t.Errorf("lex(%q) error = %v; want %s", tc.src, err, tc.want)
			}
		})
	}
}

package config

import (
	"bytes"
	"strings"
)

// tokenKind tells how a token was written, which decides how its text was
// unquoted and which placeholders are replaced in it.
type tokenKind uint8

const (
	tokWord     tokenKind = iota // unquoted
	tokQuoted                    // "double quoted", with \" and \\ escapes
	tokBacktick                  // `raw`, no escapes, no placeholders
	tokHeredoc                   // <<MARKER ... MARKER
	tokComment                   // # to end of line; only when lexing for Format
)

// token is one lexed token. Tokens carry no line-end marker: first says
// whether a token starts a logical line, which survives imports (an imported
// file's tokens keep their own line structure).
type token struct {
	pos   Pos
	kind  tokenKind
	raw   string // exactly as written in the source
	text  string // the value: unquoted, placeholders replaced
	first bool   // first token of its line
	blank bool   // a blank line precedes it (kept by Format)
	// brace is '{' or '}' for a bare brace in the source, 'e' for a bare
	// "{}" (an empty block), else 0. Placeholders never produce braces.
	brace byte
}

// lexer splits one file into tokens.
type lexer struct {
	file      string
	src       []byte
	off       int
	line      int
	lineStart int // offset of the first byte of the current line
	comments  bool
}

// lex tokenizes src. With comments set it also returns comment tokens (for
// Format); otherwise comments are dropped. Placeholders are not replaced
// here.
func lex(file string, src []byte, comments bool) ([]token, error) {
	l := &lexer{file: file, src: src, line: 1, comments: comments}
	return l.run()
}

func (l *lexer) pos() Pos {
	return Pos{File: l.file, Line: l.line, Col: l.off - l.lineStart + 1}
}

// advanceTo moves to offset end, counting the newlines passed.
func (l *lexer) advanceTo(end int) {
	for ; l.off < end; l.off++ {
		if l.src[l.off] == '\n' {
			l.line++
			l.lineStart = l.off + 1
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func (l *lexer) run() ([]token, error) {
	var toks []token
	newlines := 0
	atLineStart := true
	for l.off < len(l.src) {
		c := l.src[l.off]
		if isSpace(c) {
			if c == '\n' {
				newlines++
				atLineStart = true
			}
			l.advanceTo(l.off + 1)
			continue
		}
		t := token{pos: l.pos(), first: atLineStart, blank: newlines >= 2}
		start := l.off
		switch c {
		case '#':
			end := start
			for end < len(l.src) && l.src[end] != '\n' {
				end++
			}
			l.advanceTo(end)
			if !l.comments {
				continue
			}
			t.kind = tokComment
			t.raw = strings.TrimRight(string(l.src[start:end]), " \t\r")
			t.text = t.raw
		case '"':
			text, err := l.quoted()
			if err != nil {
				return nil, err
			}
			t.kind, t.text = tokQuoted, text
		case '`':
			end := bytes.IndexByte(l.src[start+1:], '`')
			if end < 0 {
				return nil, errorAt(t.pos, "unterminated backtick string")
			}
			l.advanceTo(start + 1 + end + 1)
			t.kind, t.text = tokBacktick, string(l.src[start+1:start+1+end])
		default:
			end := start
			for end < len(l.src) && !isSpace(l.src[end]) {
				end++
			}
			word := string(l.src[start:end])
			if marker, ok := heredocMarker(word); ok {
				l.advanceTo(end)
				text, err := l.heredoc(t.pos, marker)
				if err != nil {
					return nil, err
				}
				t.kind, t.text = tokHeredoc, text
				break
			}
			l.advanceTo(end)
			t.kind, t.text = tokWord, word
			switch word {
			case "{", "}":
				t.brace = word[0]
			case "{}":
				t.brace = 'e'
			}
		}
		if t.raw == "" {
			t.raw = string(l.src[start:l.off])
		}
		toks = append(toks, t)
		newlines = 0
		atLineStart = false
	}
	return toks, nil
}

// quoted reads a double-quoted string starting at l.off. The only escapes
// are \" and \\; any other backslash is kept, so Windows paths and regular
// expressions need no doubling. Newlines may appear inside.
func (l *lexer) quoted() (string, error) {
	p := l.pos()
	var b strings.Builder
	i := l.off + 1
	for i < len(l.src) {
		c := l.src[i]
		switch {
		case c == '\\' && i+1 < len(l.src) && (l.src[i+1] == '"' || l.src[i+1] == '\\'):
			b.WriteByte(l.src[i+1])
			i += 2
		case c == '"':
			l.advanceTo(i + 1)
			return b.String(), nil
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", errorAt(p, "unterminated quoted string")
}

// heredocMarker reports whether word opens a heredoc: "<<" followed by a
// marker of letters, digits, '_' or '-'.
func heredocMarker(word string) (string, bool) {
	m, ok := strings.CutPrefix(word, "<<")
	if !ok || m == "" {
		return "", false
	}
	for i := 0; i < len(m); i++ {
		if !isMarkerByte(m[i]) {
			return "", false
		}
	}
	return m, true
}

func isMarkerByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// heredoc reads the body of a heredoc whose "<<marker" ends at l.off. The
// marker must end its line. The body runs to the first line whose first
// non-blank text is the marker (followed by the line end or a blank, after
// which more tokens may follow on that line). That line's indentation is
// removed from every body line; the value has no final newline.
func (l *lexer) heredoc(open Pos, marker string) (string, error) {
	i := l.off
	for i < len(l.src) && (l.src[i] == ' ' || l.src[i] == '\t' || l.src[i] == '\r') {
		i++
	}
	if i < len(l.src) && l.src[i] != '\n' {
		return "", errorAt(open, "heredoc marker <<"+marker+" must end its line")
	}
	if i >= len(l.src) {
		return "", errorAt(open, "heredoc <<"+marker+" is not closed")
	}
	type bodyLine struct {
		text string
		pos  Pos
	}
	var lines []bodyLine
	start := i + 1
	for start <= len(l.src) {
		end := start
		for end < len(l.src) && l.src[end] != '\n' {
			end++
		}
		text := strings.TrimSuffix(string(l.src[start:end]), "\r")
		rest := strings.TrimLeft(text, " \t")
		if after, ok := strings.CutPrefix(rest, marker); ok && (after == "" || after[0] == ' ' || after[0] == '\t') {
			indent := text[:len(text)-len(rest)]
			l.advanceTo(start + len(indent) + len(marker))
			var b strings.Builder
			for n, bl := range lines {
				if n > 0 {
					b.WriteByte('\n')
				}
				switch {
				case strings.HasPrefix(bl.text, indent):
					b.WriteString(bl.text[len(indent):])
				case strings.TrimLeft(bl.text, " \t") == "":
					// a blank line may be shorter than the indentation
				default:
					return "", errorAt(bl.pos, "heredoc line is not indented like its closing marker "+marker)
				}
			}
			return b.String(), nil
		}
		lines = append(lines, bodyLine{text: text, pos: Pos{File: l.file, Line: l.line + len(lines) + 1, Col: 1}})
		if end >= len(l.src) {
			break
		}
		start = end + 1
	}
	return "", errorAt(open, "heredoc <<"+marker+" is not closed")
}

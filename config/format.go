package config

import "bytes"

// Format returns src in canonical form: one directive per line, indented
// with one tab per block level, tokens separated by one space, at most one
// blank line in a row and none just inside a block's braces, comments kept,
// a final newline. Tokens are written exactly as in src (quotes, heredocs
// and placeholders included; a heredoc's body is not re-indented), so the
// result parses to the same config. Format does not follow imports. Input
// that does not lex (an unterminated string, say) is returned unchanged.
func Format(src []byte) []byte {
	toks, err := lex("", src, true)
	if err != nil {
		return src
	}
	var b bytes.Buffer
	depth := 0
	afterOpen := false // the previous line opened a block
	for i := 0; i < len(toks); {
		j := lineEnd(toks, i)
		line := toks[i:j]
		closes := line[0].brace == '}'
		if closes && depth > 0 {
			depth--
		}
		if line[0].blank && b.Len() > 0 && !afterOpen && !closes {
			b.WriteByte('\n')
		}
		for range depth {
			b.WriteByte('\t')
		}
		afterOpen = false
		for k, t := range line {
			if k > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(t.raw)
			switch {
			case k == 0 && closes:
			case t.brace == '{':
				depth++
			case t.brace == '}':
				depth = max(depth-1, 0)
			}
			if t.kind != tokComment {
				afterOpen = t.brace == '{'
			}
		}
		b.WriteByte('\n')
		i = j
	}
	return b.Bytes()
}

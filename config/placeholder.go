package config

import (
	"strconv"
	"strings"
)

// replaceEnv replaces every {$NAME} and {$NAME:default} in s. A default is
// used when the variable is unset or empty; without one, such a variable is
// "". Text that only looks like a placeholder ("{$", "{$a b}") is kept.
func replaceEnv(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "{$") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "{$")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		name, def, hasDef := strings.Cut(s[i+2:i+j], ":")
		if !isEnvName(name) {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		v, _ := lookup(name)
		if v == "" && hasDef {
			v = def
		}
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// replaceEnvDot replaces Caddy's {env.NAME} placeholders in s with the
// variable's value ("" when unset). Caddy reads them when a handler runs;
// the process environment does not change while Tether runs, so reading it
// when the config loads gives the same value. Unlike {$NAME}, the value
// stays within its token: it is never split into several arguments. As in
// Caddy, a value is not itself searched for placeholders: its braces are
// escaped (\{ \}), which the values that take placeholders (header,
// respond, redir, ...) read as literal braces.
func replaceEnvDot(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{env.")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 || !isEnvName(s[i+5:i+j]) {
			b.WriteString(s[:i+5])
			s = s[i+5:]
			continue
		}
		b.WriteString(s[:i])
		v, _ := lookup(s[i+5 : i+j])
		if strings.ContainsAny(v, "{}") {
			v = strings.NewReplacer("{", `\{`, "}", `\}`).Replace(v)
		}
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// wholeEnv reports whether s is exactly one env placeholder.
func wholeEnv(s string) bool {
	if !strings.HasPrefix(s, "{$") || !strings.HasSuffix(s, "}") {
		return false
	}
	inner := s[2 : len(s)-1]
	if strings.IndexByte(inner, '}') >= 0 {
		return false
	}
	name, _, _ := strings.Cut(inner, ":")
	return isEnvName(name)
}

func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// expandEnv replaces env placeholders in word, quoted and heredoc tokens.
// An unquoted token that is exactly one placeholder becomes the value's
// whitespace-separated fields, so "discover static {$SEEDS}" takes several
// seeds and an unset variable takes no argument at all.
//
// The tokens of a CEL expression (an expression matcher line, or a named
// matcher whose argument is quoted) keep their {env.NAME}: the expression
// reads it as a string value, as Caddy's does.
func expandEnv(toks []token, lookup func(string) (string, bool)) []token {
	out := toks[:0:0]
	carryFirst := false
	cel := false
	for i, t := range toks {
		if t.first {
			carryFirst = false
			cel = isExpressionLine(toks[i:])
		}
		var vals []string
		switch {
		case t.kind == tokBacktick || t.kind == tokComment || !strings.Contains(t.text, "{$"):
			vals = []string{t.text}
		case t.kind == tokWord && wholeEnv(t.text):
			vals = strings.Fields(replaceEnv(t.text, lookup))
		default:
			vals = []string{replaceEnv(t.text, lookup)}
		}
		if t.kind != tokComment && !cel {
			// After {$NAME}, which is text substitution: a {env.NAME}
			// it brought in is a placeholder as Caddy reads it.
			for i, v := range vals {
				if strings.Contains(v, "{env.") {
					vals[i] = replaceEnvDot(v, lookup)
				}
			}
		}
		out = splice(out, t, vals, &carryFirst)
	}
	return out
}

// isExpressionLine reports whether the line starting at line[0] holds a
// CEL expression: "expression ...", "not expression ...", "@name
// expression ..." or "@name `...`".
func isExpressionLine(line []token) bool {
	at := func(i int) *token {
		if i < len(line) && (i == 0 || !line[i].first) {
			return &line[i]
		}
		return nil
	}
	t := at(0)
	if t == nil || t.kind != tokWord {
		return false
	}
	if strings.HasPrefix(t.text, "@") {
		t = at(1)
		if t == nil {
			return false
		}
		if t.kind == tokQuoted || t.kind == tokBacktick || t.kind == tokHeredoc {
			return true
		}
		return t.kind == tokWord && t.text == "expression"
	}
	if t.text == "not" {
		t = at(1)
	}
	return t != nil && t.kind == tokWord && t.text == "expression"
}

// splice appends t to out as one token per value, or none for no values.
// The first keeps t's line-start and blank-line marks; the line start of a
// token that expanded to nothing passes, through carry, to the next one.
func splice(out []token, t token, vals []string, carry *bool) []token {
	if len(vals) == 0 {
		*carry = *carry || t.first
		return out
	}
	for i, v := range vals {
		nt := t
		nt.text = v
		nt.first = i == 0 && (t.first || *carry)
		nt.blank = i == 0 && t.blank
		out = append(out, nt)
	}
	*carry = false
	return out
}

// argRef is a parsed {args[...]} placeholder: one index, or a slice
// [lo:hi] where hi < 0 means "to the end".
type argRef struct {
	index   int
	slice   bool
	lo, hi  int
	literal string
}

// parseArgRef parses the inside of "{args[" ... "]}".
func parseArgRef(inner string) (argRef, bool) {
	r := argRef{literal: "{args[" + inner + "]}", hi: -1}
	lo, hi, isSlice := strings.Cut(inner, ":")
	num := func(s string, def int) (int, bool) {
		if s == "" {
			return def, true
		}
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 0 && n < 1<<20
	}
	if !isSlice {
		n, ok := num(lo, -1)
		if !ok || n < 0 {
			return r, false
		}
		r.index = n
		return r, true
	}
	var ok1, ok2 bool
	r.slice = true
	r.lo, ok1 = num(lo, 0)
	r.hi, ok2 = num(hi, -1)
	return r, ok1 && ok2
}

// values returns what r expands to for args. A single index out of range is
// an error; a slice is clipped to the arguments there are.
func (r argRef) values(args []string) ([]string, bool) {
	if !r.slice {
		if r.index >= len(args) {
			return nil, false
		}
		return args[r.index : r.index+1], true
	}
	lo, hi := r.lo, r.hi
	if hi < 0 || hi > len(args) {
		hi = len(args)
	}
	if lo > hi {
		lo = hi
	}
	return args[lo:hi], true
}

// nextArgRef finds the next {args[...]} placeholder in s, returning its
// bounds, or i < 0.
func nextArgRef(s string) (i, j int, r argRef) {
	off := 0
	for {
		k := strings.Index(s[off:], "{args[")
		if k < 0 {
			return -1, -1, r
		}
		k += off
		e := strings.Index(s[k:], "]}")
		if e < 0 {
			return -1, -1, r
		}
		if ref, ok := parseArgRef(s[k+6 : k+e]); ok {
			return k, k + e + 2, ref
		}
		off = k + 6
	}
}

// expandArgs replaces {args[N]} and {args[lo:hi]} placeholders in tokens
// imported with args. An unquoted token that is exactly one slice
// placeholder becomes one token per argument; elsewhere a slice is joined
// with spaces. from is where the import was, for errors.
func expandArgs(toks []token, args []string, from Pos) ([]token, error) {
	out := make([]token, 0, len(toks))
	carryFirst := false
	for _, t := range toks {
		if t.first {
			carryFirst = false
		}
		if t.kind == tokBacktick || !strings.Contains(t.text, "{args[") {
			out = splice(out, t, []string{t.text}, &carryFirst)
			continue
		}
		if i, j, ref := nextArgRef(t.text); t.kind == tokWord && ref.slice && i == 0 && j == len(t.text) {
			vals, _ := ref.values(args)
			out = splice(out, t, vals, &carryFirst)
			continue
		}
		var b strings.Builder
		s := t.text
		for {
			i, j, ref := nextArgRef(s)
			if i < 0 {
				b.WriteString(s)
				break
			}
			vals, ok := ref.values(args)
			if !ok {
				return nil, errorf(t.pos, "%s is out of range: the import at %s passes %d argument(s)", ref.literal, from, len(args))
			}
			b.WriteString(s[:i])
			b.WriteString(strings.Join(vals, " "))
			s = s[j:]
		}
		out = splice(out, t, []string{b.String()}, &carryFirst)
	}
	return out, nil
}

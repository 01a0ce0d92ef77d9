package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Caddy's expression matcher takes a CEL expression (github.com/google/
// cel-spec): `{method} == "GET" && {path}.startsWith("/api")`. Tether reads
// the part of CEL that request matching uses, with its own small parser and
// evaluator instead of cel-go: literals (null, bool, int, double, string,
// list, map), placeholders, the operators (! - * / % + < <= > >= == != in
// && || ?:), indexing and field selection, CEL's string functions (size,
// contains, startsWith, endsWith, matches, and cel-go's string extension:
// lowerAscii, upperAscii, trim, replace, split, join, indexOf,
// lastIndexOf, substring, charAt), the conversions int, double, string,
// bool and dyn, and Caddy's matcher functions (path, path_regexp, host,
// method, header, header_regexp, query, protocol, remote_ip, client_ip).
// Macros (has, all, exists, map, filter) are not read: there are no loops,
// so an expression's cost is bounded by its size and its inputs'.
//
// As in Caddy, a placeholder {name} outside a string literal is a value of
// the request (its type known only when the request is matched: dyn), and
// the expression must give a bool. A parse or check error is a config
// error at the expression's file, line and column.

// Expression is one CEL expression of a matcher (an expression condition,
// or a named matcher whose only argument is a quoted expression), parsed
// and checked.
type Expression struct {
	// Source is the expression as Caddy reads it: the one token, or the
	// line's tokens joined with spaces.
	Source string
	Root   *ExprNode
	Pos    Pos
}

// String is the expression with every operation parenthesized and
// placeholders in their long form: what the parser understood.
func (e *Expression) String() string { return e.Root.String() }

// String is the node as Expression.String writes it.
func (n *ExprNode) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

// ExprOp is what an ExprNode does.
type ExprOp uint8

const (
	ExprLiteral     ExprOp = iota // Value
	ExprPlaceholder               // Placeholder, a value of the request
	ExprList                      // [Args...]
	ExprMap                       // {Args[0]: Args[1], Args[2]: Args[3], ...}
	ExprUnary                     // Name ("!" or "-") Args[0]
	ExprBinary                    // Args[0] Name Args[1]: && || == != < <= > >= in + - * / %
	ExprCond                      // Args[0] ? Args[1] : Args[2]
	ExprIndex                     // Args[0][Args[1]]
	ExprSelect                    // Args[0].Name
	ExprCall                      // Name(Args...), or Args[0].Name(Args[1:]...) when Method
	ExprMatcher                   // a matcher function: Name(Args...), Matcher when constant
)

// ExprKind is the kind of a CEL value: the type of a literal, and what the
// checker knows of a node's value (ExprDyn: known only at run time).
type ExprKind uint8

const (
	ExprDyn ExprKind = iota
	ExprNull
	ExprBool
	ExprInt
	ExprDouble
	ExprString
	ExprListKind
	ExprMapKind
)

var exprKindNames = [...]string{"dyn", "null", "bool", "int", "double", "string", "list", "map"}

func (k ExprKind) String() string {
	if int(k) < len(exprKindNames) {
		return exprKindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ExprValue is a literal: Kind says which field holds it.
type ExprValue struct {
	Kind   ExprKind
	Bool   bool
	Int    int64
	Double float64
	Str    string
}

// ExprNode is one node of a parsed expression.
type ExprNode struct {
	Op   ExprOp
	Name string // operator, function or field name
	// Method: a call on a receiver, which is Args[0].
	Method      bool
	Value       ExprValue    // ExprLiteral
	Placeholder TemplatePart // ExprPlaceholder
	Args        []*ExprNode
	// Matcher is an ExprMatcher's matcher set when its arguments are
	// constant; nil when they have placeholders and it is built per
	// request (MatcherCall).
	Matcher *Matcher
	// Regexp is matches()'s constant pattern, compiled; nil when the
	// pattern is computed.
	Regexp *regexp.Regexp
	// Kind is what the checker knows of the node's value; Elem, for a
	// list or map, of its elements (or values).
	Kind, Elem ExprKind
	// Off is the node's offset in the expression's Source.
	Off int
}

// exprMaxDepth bounds the nesting of an expression, so that parsing and
// evaluating it cannot exhaust the stack.
const exprMaxDepth = 64

// exprMacros are CEL's macros, which Tether does not read.
var exprMacros = []string{"has", "all", "exists", "exists_one", "map", "filter", "bind"}

// exprReserved are CEL's reserved words.
var exprReserved = []string{"as", "break", "const", "continue", "else", "for", "function", "if", "import",
	"let", "loop", "package", "namespace", "return", "var", "void", "while"}

// exprMatcherFuncs are Caddy's matcher functions and the matcher condition
// each is.
var exprMatcherFuncs = []string{"path", "path_regexp", "host", "method", "header", "header_regexp", "query", "protocol", "remote_ip", "client_ip"}

// exprUnsupportedFuncs are Caddy's other CEL functions, with why.
var exprUnsupportedFuncs = map[string]string{
	"file":        "the file matcher is not supported; try_files rewrites to a file that exists",
	"vars":        "vars is not supported",
	"vars_regexp": "vars_regexp is not supported",
	"uint":        "unsigned integers are not supported",
	"bytes":       "bytes are not supported",
	"timestamp":   "timestamps are not supported",
	"duration":    "durations are not supported",
	"type":        "type() is not supported",
}

// exprError is a parse or check error at an offset of the source.
type exprError struct {
	off int
	msg string
}

func (e *exprError) Error() string { return e.msg }

func exprErrorf(off int, format string, args ...any) *exprError {
	return &exprError{off: off, msg: fmt.Sprintf(format, args...)}
}

// exprSource is an expression's text and where each part of it was
// written, to turn an offset into a file position.
type exprSource struct {
	text  string
	parts []exprPart
}

type exprPart struct {
	start int // offset in text
	tok   token
	inner int // offset of the token's value within what was appended (1 for a re-quoted token)
}

// posOf returns the file position of offset off of the source.
func (s *exprSource) posOf(off int) Pos {
	if len(s.parts) == 0 {
		return Pos{}
	}
	p := s.parts[0]
	for _, q := range s.parts[1:] {
		if q.start > off {
			break
		}
		p = q
	}
	t := p.tok
	rel := off - p.start - p.inner
	pos := t.pos
	switch t.kind {
	case tokWord:
		if rel < 0 {
			rel = 0
		}
		pos.Col += rel
		return pos
	case tokHeredoc:
		// The value starts on the line after the marker; its
		// indentation was removed, so columns are approximate.
		pos.Line++
		pos.Col = 1
	default:
		pos.Col++ // after the opening quote or backtick
	}
	text := t.text
	for i := 0; i < rel && i < len(text); i++ {
		if text[i] == '\n' {
			pos.Line++
			pos.Col = 1
		} else {
			pos.Col++
		}
	}
	return pos
}

// exprSourceOf builds the expression from a condition's argument tokens as
// Caddy does: one token is the expression; several are joined with spaces,
// quoted ones with their quotes.
func exprSourceOf(toks []token) *exprSource {
	s := &exprSource{}
	if len(toks) == 1 {
		s.text = toks[0].text
		s.parts = []exprPart{{tok: toks[0]}}
		return s
	}
	var b strings.Builder
	for i, t := range toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		p := exprPart{start: b.Len(), tok: t}
		if t.kind == tokWord {
			b.WriteString(t.text)
		} else {
			p.inner = 1
			b.WriteByte('"')
			b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(t.text))
			b.WriteByte('"')
		}
		s.parts = append(s.parts, p)
	}
	s.text = b.String()
	return s
}

// parseExpression parses and checks the expression the tokens make, for
// matcher m. lookup reads {env.NAME} placeholders, which are constants.
func (b *builder) parseExpression(m *Matcher, toks []token) (*Expression, error) {
	src := exprSourceOf(toks)
	e := &Expression{Source: src.text, Pos: toks[0].pos}
	fail := func(err *exprError) error {
		return errorf(src.posOf(err.off), "%s: expression: %s", m.Name, err.msg)
	}
	if strings.TrimSpace(src.text) == "" {
		return nil, errorf(e.Pos, "%s: expression: empty", m.Name)
	}
	if !utf8.ValidString(src.text) {
		return nil, errorf(e.Pos, "%s: expression: not valid UTF-8", m.Name)
	}
	p := &exprParser{src: src.text, lookup: b.opts.LookupEnv}
	root, perr := p.parse()
	if perr != nil {
		return nil, fail(perr)
	}
	c := &exprChecker{b: b, m: m}
	if cerr := c.check(root); cerr != nil {
		return nil, fail(cerr)
	}
	if root.Kind != ExprBool {
		return nil, fail(exprErrorf(0, "the expression gives %s, not bool (a matcher must be true or false)", root.Kind))
	}
	e.Root = root
	return e, nil
}

// ParseExpression parses and checks a CEL expression as an expression
// matcher would, for tests and tools; name is the matcher's, for
// messages, and file names the position of errors.
func ParseExpression(file, name, src string, lookupEnv func(string) (string, bool)) (*Expression, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	b := &builder{opts: ParseOptions{LookupEnv: lookupEnv}, cfg: &Config{}}
	tok := token{pos: Pos{File: file, Line: 1, Col: 0}, kind: tokBacktick, text: src}
	return b.parseExpression(&Matcher{Name: name}, []token{tok})
}

// --- lexer ---

type exprTokKind uint8

const (
	etEOF exprTokKind = iota
	etIdent
	etInt
	etDouble
	etString
	etPlaceholder
	etOp
)

type exprTok struct {
	kind exprTokKind
	off  int
	text string // identifier, operator, placeholder name, or the literal's source
	str  string // a string literal's value
	i    int64
	f    float64
}

type exprLexer struct {
	src string
	off int
}

// exprOps are CEL's operators and punctuation, longest first.
var exprOps = []string{"&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",", "[", "]", "(", ")", "{", "}"}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentByte(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }

func (l *exprLexer) next() (exprTok, *exprError) {
	for l.off < len(l.src) {
		c := l.src[l.off]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
			l.off++
			continue
		}
		if c == '/' && l.off+1 < len(l.src) && l.src[l.off+1] == '/' {
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.off++
			}
			continue
		}
		break
	}
	start := l.off
	if l.off >= len(l.src) {
		return exprTok{kind: etEOF, off: start}, nil
	}
	c := l.src[l.off]
	switch {
	case c == '{':
		// A Caddy placeholder, {name}: a letter, then letters, digits,
		// '_', '.' or '-' (Caddy's placeholder pattern); else a map's '{'.
		j := l.off + 1
		if j < len(l.src) && (l.src[j] >= 'a' && l.src[j] <= 'z' || l.src[j] >= 'A' && l.src[j] <= 'Z') {
			k := j + 1
			for k < len(l.src) && (isIdentByte(l.src[k]) || l.src[k] == '.' || l.src[k] == '-') {
				k++
			}
			if k < len(l.src) && l.src[k] == '}' && k > j+1 {
				l.off = k + 1
				return exprTok{kind: etPlaceholder, off: start, text: l.src[j:k]}, nil
			}
		}
	case c == '\\' && l.off+1 < len(l.src) && l.src[l.off+1] == '{':
		return exprTok{}, exprErrorf(start, `\{ is a placeholder escaped for a string argument: write it inside quotes ('\{path}.md')`)
	case c == '"' || c == '\'':
		return l.str(start, false)
	case (c == 'r' || c == 'R') && l.off+1 < len(l.src) && (l.src[l.off+1] == '"' || l.src[l.off+1] == '\''):
		l.off++
		return l.str(start, true)
	case (c == 'b' || c == 'B') && l.off+1 < len(l.src) && (l.src[l.off+1] == '"' || l.src[l.off+1] == '\''):
		return exprTok{}, exprErrorf(start, "bytes literals are not supported")
	case isDigit(c) || c == '.' && l.off+1 < len(l.src) && isDigit(l.src[l.off+1]):
		return l.number(start)
	case isIdentStart(c):
		for l.off < len(l.src) && isIdentByte(l.src[l.off]) {
			l.off++
		}
		return exprTok{kind: etIdent, off: start, text: l.src[start:l.off]}, nil
	}
	for _, op := range exprOps {
		if strings.HasPrefix(l.src[l.off:], op) {
			l.off += len(op)
			return exprTok{kind: etOp, off: start, text: op}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	if r == '`' {
		return exprTok{}, exprErrorf(start, "unexpected '`': CEL strings are quoted with ' or \"")
	}
	return exprTok{}, exprErrorf(start, "unexpected %q", r)
}

// number reads an int, double or (refused) uint literal.
func (l *exprLexer) number(start int) (exprTok, *exprError) {
	s := l.src
	if strings.HasPrefix(s[l.off:], "0x") || strings.HasPrefix(s[l.off:], "0X") {
		l.off += 2
		for l.off < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[l.off]) >= 0 {
			l.off++
		}
		if l.off < len(s) && (s[l.off] == 'u' || s[l.off] == 'U') {
			return exprTok{}, exprErrorf(start, "unsigned integers (%s) are not supported", s[start:l.off+1])
		}
		v, err := strconv.ParseUint(s[start+2:l.off], 16, 64)
		if err != nil || v > math.MaxInt64+1 {
			return exprTok{}, exprErrorf(start, "integer %s is out of range", s[start:l.off])
		}
		return exprTok{kind: etInt, off: start, text: s[start:l.off], i: int64(v)}, nil
	}
	double := false
	for l.off < len(s) && isDigit(s[l.off]) {
		l.off++
	}
	if l.off+1 < len(s) && s[l.off] == '.' && isDigit(s[l.off+1]) {
		double = true
		l.off++
		for l.off < len(s) && isDigit(s[l.off]) {
			l.off++
		}
	}
	if l.off < len(s) && (s[l.off] == 'e' || s[l.off] == 'E') {
		j := l.off + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			double = true
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			l.off = j
		}
	}
	text := s[start:l.off]
	if !double && l.off < len(s) && (s[l.off] == 'u' || s[l.off] == 'U') {
		return exprTok{}, exprErrorf(start, "unsigned integers (%su) are not supported", text)
	}
	if double {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return exprTok{}, exprErrorf(start, "bad number %s", text)
		}
		return exprTok{kind: etDouble, off: start, text: text, f: f}, nil
	}
	v, err := strconv.ParseUint(text, 10, 64)
	if err != nil || v > math.MaxInt64+1 {
		return exprTok{}, exprErrorf(start, "integer %s is out of range", text)
	}
	return exprTok{kind: etInt, off: start, text: text, i: int64(v)}, nil
}

// str reads a string literal at l.off: '...', "...", or a triple-quoted
// one, raw (no escapes) when raw is set. A \{ is a '{' (Caddy's escaped
// placeholder).
func (l *exprLexer) str(start int, raw bool) (exprTok, *exprError) {
	s := l.src
	q := s[l.off]
	quote := string(q)
	if strings.HasPrefix(s[l.off:], strings.Repeat(quote, 3)) {
		quote = strings.Repeat(quote, 3)
	}
	l.off += len(quote)
	var b strings.Builder
	for {
		if l.off >= len(s) {
			return exprTok{}, exprErrorf(start, "unterminated string")
		}
		if strings.HasPrefix(s[l.off:], quote) {
			l.off += len(quote)
			return exprTok{kind: etString, off: start, text: s[start:l.off], str: b.String()}, nil
		}
		c := s[l.off]
		if (c == '\n' || c == '\r') && len(quote) == 1 {
			return exprTok{}, exprErrorf(start, "unterminated string (a newline in a string needs triple quotes)")
		}
		if c != '\\' || raw {
			b.WriteByte(c)
			l.off++
			continue
		}
		if l.off+1 >= len(s) {
			return exprTok{}, exprErrorf(start, "unterminated string")
		}
		e := s[l.off+1]
		l.off += 2
		switch e {
		case '\\', '?', '"', '\'', '`', '{', '}':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'X', 'u', 'U':
			n := map[byte]int{'x': 2, 'X': 2, 'u': 4, 'U': 8}[e]
			if l.off+n > len(s) {
				return exprTok{}, exprErrorf(l.off-2, "bad escape \\%c", e)
			}
			v, err := strconv.ParseUint(s[l.off:l.off+n], 16, 32)
			if err != nil || v > utf8.MaxRune || v >= 0xD800 && v < 0xE000 {
				return exprTok{}, exprErrorf(l.off-2, "bad escape \\%c%s", e, s[l.off:l.off+n])
			}
			l.off += n
			b.WriteRune(rune(v))
		case '0', '1', '2', '3':
			if l.off+2 > len(s) {
				return exprTok{}, exprErrorf(l.off-2, "bad octal escape")
			}
			v, err := strconv.ParseUint(s[l.off-1:l.off+2], 8, 8)
			if err != nil {
				return exprTok{}, exprErrorf(l.off-2, "bad octal escape \\%s", s[l.off-1:l.off+2])
			}
			l.off += 2
			b.WriteRune(rune(v))
		default:
			return exprTok{}, exprErrorf(l.off-2, "unknown escape \\%c", e)
		}
	}
}

// --- parser ---

// exprParser is a recursive descent parser of CEL's grammar:
//
//	Expr     = Or ["?" Or ":" Expr]
//	Or       = And {"||" And}
//	And      = Relation {"&&" Relation}
//	Relation = Addition {("<"|"<="|">="|">"|"=="|"!="|"in") Addition}
//	Addition = Mult {("+"|"-") Mult}
//	Mult     = Unary {("*"|"/"|"%") Unary}
//	Unary    = Member | "!" {"!"} Member | "-" {"-"} Member
//	Member   = Primary {"." IDENT ["(" [Args] ")"] | "[" Expr "]"}
//	Primary  = IDENT ["(" [Args] ")"] | "(" Expr ")" | "[" [Args] [","] "]"
//	         | "{" [Entries] [","] "}" | LITERAL | PLACEHOLDER
type exprParser struct {
	src    string
	lex    exprLexer
	tok    exprTok
	depth  int
	lookup func(string) (string, bool)
	// negLit: the next literal follows a unary minus.
	negLit bool
}

func (p *exprParser) parse() (*ExprNode, *exprError) {
	p.lex = exprLexer{src: p.src}
	if err := p.advance(); err != nil {
		return nil, err
	}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != etEOF {
		return nil, exprErrorf(p.tok.off, "unexpected %s after the expression", p.tok.describe())
	}
	return n, nil
}

func (t exprTok) describe() string {
	switch t.kind {
	case etEOF:
		return "end of expression"
	case etPlaceholder:
		return "{" + t.text + "}"
	}
	return strconv.Quote(t.text)
}

func (p *exprParser) advance() *exprError {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *exprParser) isOp(op string) bool { return p.tok.kind == etOp && p.tok.text == op }

func (p *exprParser) expect(op string) *exprError {
	if !p.isOp(op) {
		return exprErrorf(p.tok.off, "want %q, found %s", op, p.tok.describe())
	}
	return p.advance()
}

func (p *exprParser) enter(off int) *exprError {
	p.depth++
	if p.depth > exprMaxDepth {
		return exprErrorf(off, "nested more than %d deep", exprMaxDepth)
	}
	return nil
}

func (p *exprParser) expr() (*ExprNode, *exprError) {
	if err := p.enter(p.tok.off); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	off := p.tok.off
	c, err := p.or()
	if err != nil || !p.isOp("?") {
		return c, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	a, err := p.or()
	if err != nil {
		return nil, err
	}
	if err := p.expect(":"); err != nil {
		return nil, err
	}
	b, err := p.expr()
	if err != nil {
		return nil, err
	}
	return &ExprNode{Op: ExprCond, Args: []*ExprNode{c, a, b}, Off: off}, nil
}

// binary parses a left-associative level of operators ops above next.
func (p *exprParser) binary(ops []string, next func() (*ExprNode, *exprError)) (*ExprNode, *exprError) {
	l, err := next()
	if err != nil {
		return nil, err
	}
	for {
		op := ""
		switch {
		case p.tok.kind == etOp && slices.Contains(ops, p.tok.text):
			op = p.tok.text
		case p.tok.kind == etIdent && p.tok.text == "in" && slices.Contains(ops, "in"):
			op = "in"
		default:
			return l, nil
		}
		off := p.tok.off
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := next()
		if err != nil {
			return nil, err
		}
		l = &ExprNode{Op: ExprBinary, Name: op, Args: []*ExprNode{l, r}, Off: off}
	}
}

func (p *exprParser) or() (*ExprNode, *exprError) {
	return p.binary([]string{"||"}, p.and)
}

func (p *exprParser) and() (*ExprNode, *exprError) {
	return p.binary([]string{"&&"}, p.relation)
}

func (p *exprParser) relation() (*ExprNode, *exprError) {
	return p.binary([]string{"<", "<=", ">=", ">", "==", "!=", "in"}, p.addition)
}

func (p *exprParser) addition() (*ExprNode, *exprError) {
	return p.binary([]string{"+", "-"}, p.mult)
}

func (p *exprParser) mult() (*ExprNode, *exprError) {
	return p.binary([]string{"*", "/", "%"}, p.unary)
}

func (p *exprParser) unary() (*ExprNode, *exprError) {
	if !p.isOp("!") && !p.isOp("-") {
		return p.member()
	}
	op, off := p.tok.text, p.tok.off
	if err := p.enter(off); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if err := p.advance(); err != nil {
		return nil, err
	}
	if op == "-" && (p.tok.kind == etInt || p.tok.kind == etDouble) {
		// A negative literal: -9223372036854775808 is an int.
		p.negLit = true
		n, err := p.member()
		if err != nil {
			return nil, err
		}
		if n.Op == ExprLiteral {
			switch n.Value.Kind {
			case ExprInt:
				n.Value.Int = -n.Value.Int
				n.Off = off
				return n, nil
			case ExprDouble:
				n.Value.Double = -n.Value.Double
				n.Off = off
				return n, nil
			}
		}
		return &ExprNode{Op: ExprUnary, Name: op, Args: []*ExprNode{n}, Off: off}, nil
	}
	n, err := p.unary()
	if err != nil {
		return nil, err
	}
	return &ExprNode{Op: ExprUnary, Name: op, Args: []*ExprNode{n}, Off: off}, nil
}

func (p *exprParser) member() (*ExprNode, *exprError) {
	n, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != etIdent {
				return nil, exprErrorf(p.tok.off, "want a field or function name after '.', found %s", p.tok.describe())
			}
			name, off := p.tok.text, p.tok.off
			if err := p.advance(); err != nil {
				return nil, err
			}
			if !p.isOp("(") {
				n = &ExprNode{Op: ExprSelect, Name: name, Args: []*ExprNode{n}, Off: off}
				continue
			}
			args, err := p.args(")")
			if err != nil {
				return nil, err
			}
			n = &ExprNode{Op: ExprCall, Name: name, Method: true, Args: append([]*ExprNode{n}, args...), Off: off}
		case p.isOp("["):
			off := p.tok.off
			if err := p.advance(); err != nil {
				return nil, err
			}
			i, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			n = &ExprNode{Op: ExprIndex, Args: []*ExprNode{n, i}, Off: off}
		default:
			return n, nil
		}
	}
}

// args parses a comma-separated list up to close, after the opening
// bracket (the current token); a trailing comma is allowed.
func (p *exprParser) args(close string) ([]*ExprNode, *exprError) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	var out []*ExprNode
	for !p.isOp(close) {
		a, err := p.expr()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
		if p.isOp(",") {
			if err := p.advance(); err != nil {
				return nil, err
			}
			continue
		}
		if !p.isOp(close) {
			return nil, exprErrorf(p.tok.off, "want ',' or %q, found %s", close, p.tok.describe())
		}
	}
	return out, p.advance()
}

func (p *exprParser) primary() (*ExprNode, *exprError) {
	t := p.tok
	neg := p.negLit
	p.negLit = false
	switch t.kind {
	case etEOF:
		return nil, exprErrorf(t.off, "unexpected end of expression")
	case etInt:
		if t.i == math.MinInt64 && !neg {
			return nil, exprErrorf(t.off, "integer %s is out of range", t.text)
		}
		return &ExprNode{Op: ExprLiteral, Value: ExprValue{Kind: ExprInt, Int: t.i}, Off: t.off}, p.advance()
	case etDouble:
		return &ExprNode{Op: ExprLiteral, Value: ExprValue{Kind: ExprDouble, Double: t.f}, Off: t.off}, p.advance()
	case etString:
		return &ExprNode{Op: ExprLiteral, Value: ExprValue{Kind: ExprString, Str: t.str}, Off: t.off}, p.advance()
	case etPlaceholder:
		n, err := p.placeholder(t)
		if err != nil {
			return nil, err
		}
		return n, p.advance()
	case etIdent:
		return p.ident()
	}
	switch t.text {
	case "(":
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		return n, p.expect(")")
	case "[":
		args, err := p.args("]")
		if err != nil {
			return nil, err
		}
		return &ExprNode{Op: ExprList, Args: args, Off: t.off}, nil
	case "{":
		return p.mapLiteral()
	case ".":
		return nil, exprErrorf(t.off, "qualified names (.name) are not supported")
	}
	return nil, exprErrorf(t.off, "unexpected %s", t.describe())
}

func (p *exprParser) ident() (*ExprNode, *exprError) {
	t := p.tok
	switch t.text {
	case "true", "false":
		return &ExprNode{Op: ExprLiteral, Value: ExprValue{Kind: ExprBool, Bool: t.text == "true"}, Off: t.off}, p.advance()
	case "null":
		return &ExprNode{Op: ExprLiteral, Value: ExprValue{Kind: ExprNull}, Off: t.off}, p.advance()
	case "in":
		return nil, exprErrorf(t.off, "unexpected 'in'")
	}
	if slices.Contains(exprReserved, t.text) {
		return nil, exprErrorf(t.off, "%q is a reserved word", t.text)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if !p.isOp("(") {
		return nil, exprErrorf(t.off, "undeclared name %q (request values are placeholders: {path}, {method}, {header.X}, ...)", t.text)
	}
	args, err := p.args(")")
	if err != nil {
		return nil, err
	}
	return &ExprNode{Op: ExprCall, Name: t.text, Args: args, Off: t.off}, nil
}

func (p *exprParser) mapLiteral() (*ExprNode, *exprError) {
	n := &ExprNode{Op: ExprMap, Off: p.tok.off}
	if err := p.advance(); err != nil {
		return nil, err
	}
	for !p.isOp("}") {
		k, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		v, err := p.expr()
		if err != nil {
			return nil, err
		}
		n.Args = append(n.Args, k, v)
		if p.isOp(",") {
			if err := p.advance(); err != nil {
				return nil, err
			}
			continue
		}
		if !p.isOp("}") {
			return nil, exprErrorf(p.tok.off, "want ',' or '}' in a map, found %s", p.tok.describe())
		}
	}
	return n, p.advance()
}

// placeholder makes a placeholder's node: {env.NAME} is the variable's
// value, a constant string; any other must be one Tether knows.
func (p *exprParser) placeholder(t exprTok) (*ExprNode, *exprError) {
	if name, ok := strings.CutPrefix(t.text, "env."); ok {
		v, _ := p.lookup(name)
		return &ExprNode{Op: ExprLiteral, Value: ExprValue{Kind: ExprString, Str: v}, Off: t.off}, nil
	}
	part, ok := placeholder(t.text)
	if !ok {
		return nil, exprErrorf(t.off, "unknown placeholder {%s}", t.text)
	}
	return &ExprNode{Op: ExprPlaceholder, Placeholder: part, Off: t.off}, nil
}

// --- checker ---

// exprChecker types every node, resolves functions and builds the
// matcher sets of matcher functions with constant arguments.
type exprChecker struct {
	b *builder
	m *Matcher
}

// exprFunc describes a function: the receiver it is called on (ExprDyn
// for a global one), its argument count, and its result.
type exprFunc struct {
	recv       ExprKind
	method     bool
	min, max   int
	args       []ExprKind // by position; the last repeats
	result     ExprKind
	resultElem ExprKind
}

var exprFuncs = map[string][]exprFunc{
	"size":        {{method: false, min: 1, max: 1, args: []ExprKind{ExprDyn}, result: ExprInt}, {method: true, recv: ExprDyn, result: ExprInt}},
	"contains":    {{method: true, recv: ExprString, min: 1, max: 1, args: []ExprKind{ExprString}, result: ExprBool}},
	"startsWith":  {{method: true, recv: ExprString, min: 1, max: 1, args: []ExprKind{ExprString}, result: ExprBool}},
	"endsWith":    {{method: true, recv: ExprString, min: 1, max: 1, args: []ExprKind{ExprString}, result: ExprBool}},
	"matches":     {{method: true, recv: ExprString, min: 1, max: 1, args: []ExprKind{ExprString}, result: ExprBool}, {min: 2, max: 2, args: []ExprKind{ExprString, ExprString}, result: ExprBool}},
	"lowerAscii":  {{method: true, recv: ExprString, result: ExprString}},
	"upperAscii":  {{method: true, recv: ExprString, result: ExprString}},
	"trim":        {{method: true, recv: ExprString, result: ExprString}},
	"replace":     {{method: true, recv: ExprString, min: 2, max: 3, args: []ExprKind{ExprString, ExprString, ExprInt}, result: ExprString}},
	"split":       {{method: true, recv: ExprString, min: 1, max: 2, args: []ExprKind{ExprString, ExprInt}, result: ExprListKind, resultElem: ExprString}},
	"join":        {{method: true, recv: ExprListKind, min: 0, max: 1, args: []ExprKind{ExprString}, result: ExprString}},
	"indexOf":     {{method: true, recv: ExprString, min: 1, max: 2, args: []ExprKind{ExprString, ExprInt}, result: ExprInt}},
	"lastIndexOf": {{method: true, recv: ExprString, min: 1, max: 2, args: []ExprKind{ExprString, ExprInt}, result: ExprInt}},
	"substring":   {{method: true, recv: ExprString, min: 1, max: 2, args: []ExprKind{ExprInt, ExprInt}, result: ExprString}},
	"charAt":      {{method: true, recv: ExprString, min: 1, max: 1, args: []ExprKind{ExprInt}, result: ExprString}},
	"int":         {{min: 1, max: 1, args: []ExprKind{ExprDyn}, result: ExprInt}},
	"double":      {{min: 1, max: 1, args: []ExprKind{ExprDyn}, result: ExprDouble}},
	"string":      {{min: 1, max: 1, args: []ExprKind{ExprDyn}, result: ExprString}},
	"bool":        {{min: 1, max: 1, args: []ExprKind{ExprDyn}, result: ExprBool}},
	"dyn":         {{min: 1, max: 1, args: []ExprKind{ExprDyn}, result: ExprDyn}},
}

// exprConversions are what int, double, string and bool convert from.
var exprConversions = map[string][]ExprKind{
	"int":    {ExprInt, ExprDouble, ExprString},
	"double": {ExprInt, ExprDouble, ExprString},
	"string": {ExprInt, ExprDouble, ExprString, ExprBool},
	"bool":   {ExprBool, ExprString},
}

func (c *exprChecker) check(n *ExprNode) *exprError {
	for _, a := range n.Args {
		if n.Op == ExprCall && !n.Method && slices.Contains(exprMatcherFuncs, n.Name) {
			break // a matcher function checks its own arguments
		}
		if err := c.check(a); err != nil {
			return err
		}
	}
	n.Kind, n.Elem = ExprDyn, ExprDyn
	switch n.Op {
	case ExprLiteral:
		n.Kind = n.Value.Kind
	case ExprPlaceholder:
		// Dyn, as Caddy's: a placeholder is a string or an int
		// ({http.error.status_code}, {rp.status_code}, ports) or null.
	case ExprList:
		n.Kind, n.Elem = ExprListKind, commonKind(n.Args, 0, 1)
	case ExprMap:
		n.Kind, n.Elem = ExprMapKind, commonKind(n.Args, 1, 2)
		seen := map[ExprValue]bool{}
		for i := 0; i < len(n.Args); i += 2 {
			k := n.Args[i]
			switch k.Kind {
			case ExprDyn, ExprBool, ExprInt, ExprString:
			default:
				return exprErrorf(k.Off, "a map key must be a string, int or bool, not %s", k.Kind)
			}
			if k.Op == ExprLiteral {
				if seen[k.Value] {
					return exprErrorf(k.Off, "duplicate map key %s", k.source())
				}
				seen[k.Value] = true
			}
		}
	case ExprUnary:
		a := n.Args[0]
		if n.Name == "!" {
			if a.Kind != ExprBool && a.Kind != ExprDyn {
				return exprErrorf(n.Off, "! wants a bool, not %s", a.Kind)
			}
			n.Kind = ExprBool
			break
		}
		if a.Kind != ExprInt && a.Kind != ExprDouble && a.Kind != ExprDyn {
			return exprErrorf(n.Off, "- wants a number, not %s", a.Kind)
		}
		n.Kind = a.Kind
	case ExprBinary:
		return c.binary(n)
	case ExprCond:
		if k := n.Args[0].Kind; k != ExprBool && k != ExprDyn {
			return exprErrorf(n.Args[0].Off, "the condition of ?: must be a bool, not %s", k)
		}
		if a, b := n.Args[1], n.Args[2]; a.Kind == b.Kind {
			n.Kind = a.Kind
			if a.Elem == b.Elem {
				n.Elem = a.Elem
			}
		}
	case ExprIndex:
		a, i := n.Args[0], n.Args[1]
		switch a.Kind {
		case ExprListKind:
			if i.Kind != ExprInt && i.Kind != ExprDyn {
				return exprErrorf(i.Off, "a list index must be an int, not %s", i.Kind)
			}
			n.Kind = a.Elem
		case ExprMapKind:
			n.Kind = a.Elem
		case ExprDyn:
		default:
			return exprErrorf(n.Off, "%s cannot be indexed", a.Kind)
		}
	case ExprSelect:
		switch a := n.Args[0]; a.Kind {
		case ExprMapKind:
			n.Kind = a.Elem
		case ExprDyn:
		default:
			return exprErrorf(n.Off, "%s has no field %q", a.Kind, n.Name)
		}
	case ExprCall:
		return c.call(n)
	}
	return nil
}

// commonKind is the kind of every other node of ns from i on, or dyn when
// they differ or there are none.
func commonKind(ns []*ExprNode, i, step int) ExprKind {
	k, first := ExprDyn, true
	for ; i < len(ns); i += step {
		if first {
			k, first = ns[i].Kind, false
		} else if ns[i].Kind != k {
			return ExprDyn
		}
	}
	return k
}

func isNumber(k ExprKind) bool { return k == ExprInt || k == ExprDouble }

func (c *exprChecker) binary(n *ExprNode) *exprError {
	a, b := n.Args[0].Kind, n.Args[1].Kind
	known := a != ExprDyn && b != ExprDyn
	switch n.Name {
	case "&&", "||":
		for _, x := range n.Args {
			if x.Kind != ExprBool && x.Kind != ExprDyn {
				return exprErrorf(x.Off, "%s wants bools, not %s", n.Name, x.Kind)
			}
		}
		n.Kind = ExprBool
	case "==", "!=":
		if known && a != b && a != ExprNull && b != ExprNull && !(isNumber(a) && isNumber(b)) {
			return exprErrorf(n.Off, "%s compares %s with %s (never equal)", n.Name, a, b)
		}
		n.Kind = ExprBool
	case "<", "<=", ">", ">=":
		for _, k := range []ExprKind{a, b} {
			if k == ExprNull || k == ExprListKind || k == ExprMapKind {
				return exprErrorf(n.Off, "%s cannot order %s", n.Name, k)
			}
		}
		if known && a != b && !(isNumber(a) && isNumber(b)) {
			return exprErrorf(n.Off, "%s compares %s with %s", n.Name, a, b)
		}
		n.Kind = ExprBool
	case "in":
		if b != ExprListKind && b != ExprMapKind && b != ExprDyn {
			return exprErrorf(n.Off, "in wants a list or a map on its right, not %s", b)
		}
		n.Kind = ExprBool
	case "+":
		switch {
		case a == ExprDyn || b == ExprDyn:
			if a != ExprDyn {
				n.Kind = a
			} else {
				n.Kind = b
			}
			if n.Kind == ExprNull || n.Kind == ExprBool || n.Kind == ExprMapKind {
				return exprErrorf(n.Off, "+ cannot add %s", n.Kind)
			}
		case a == b && (a == ExprInt || a == ExprDouble || a == ExprString || a == ExprListKind):
			n.Kind = a
			if a == ExprListKind && n.Args[0].Elem == n.Args[1].Elem {
				n.Elem = n.Args[0].Elem
			}
		default:
			return exprErrorf(n.Off, "+ cannot add %s and %s", a, b)
		}
	case "-", "*", "/", "%":
		for _, k := range []ExprKind{a, b} {
			if k != ExprDyn && (!isNumber(k) || n.Name == "%" && k != ExprInt) {
				return exprErrorf(n.Off, "%s wants numbers, not %s", n.Name, k)
			}
		}
		if known && a != b {
			return exprErrorf(n.Off, "%s mixes %s and %s (convert one with int() or double())", n.Name, a, b)
		}
		if a != ExprDyn {
			n.Kind = a
		} else {
			n.Kind = b
		}
	}
	return nil
}

func (c *exprChecker) call(n *ExprNode) *exprError {
	if !n.Method {
		if slices.Contains(exprMatcherFuncs, n.Name) {
			return c.matcherCall(n)
		}
		if slices.Contains(exprMacros, n.Name) {
			return exprErrorf(n.Off, "the %s macro is not supported (Tether's CEL has no comprehensions)", n.Name)
		}
	}
	if why, ok := exprUnsupportedFuncs[n.Name]; ok {
		return exprErrorf(n.Off, "%s: %s", n.Name, why)
	}
	cands, ok := exprFuncs[n.Name]
	if !ok {
		return exprErrorf(n.Off, "unknown function %s (Tether's CEL has size, contains, startsWith, endsWith, matches, lowerAscii, upperAscii, trim, replace, split, join, indexOf, lastIndexOf, substring, charAt, int, double, string, bool, dyn and the matchers %s)", n.Name, strings.Join(exprMatcherFuncs, ", "))
	}
	args := n.Args
	recv := ExprDyn
	if n.Method {
		recv, args = n.Args[0].Kind, n.Args[1:]
	}
	var f *exprFunc
	for i := range cands {
		if cands[i].method == n.Method {
			f = &cands[i]
		}
	}
	if f == nil {
		if n.Method {
			return exprErrorf(n.Off, "%s is a function, not a method: write %s(x)", n.Name, n.Name)
		}
		return exprErrorf(n.Off, "%s is a method: write x.%s(...)", n.Name, n.Name)
	}
	if n.Method && f.recv != ExprDyn && recv != ExprDyn && recv != f.recv {
		return exprErrorf(n.Off, "%s is a method of %s, not of %s", n.Name, f.recv, recv)
	}
	if n.Name == "size" && recv != ExprDyn && recv != ExprString && recv != ExprListKind && recv != ExprMapKind {
		return exprErrorf(n.Off, "size of %s", recv)
	}
	if len(args) < f.min || len(args) > f.max {
		want := strconv.Itoa(f.min)
		if f.max != f.min {
			want = strconv.Itoa(f.min) + " to " + strconv.Itoa(f.max)
		}
		return exprErrorf(n.Off, "%s takes %s argument(s), not %d", n.Name, want, len(args))
	}
	for i, a := range args {
		want := f.args[min(i, len(f.args)-1)]
		if want != ExprDyn && a.Kind != ExprDyn && a.Kind != want {
			return exprErrorf(a.Off, "%s: argument %d is %s, not %s", n.Name, i+1, a.Kind, want)
		}
	}
	if from, ok := exprConversions[n.Name]; ok && args[0].Kind != ExprDyn && !slices.Contains(from, args[0].Kind) {
		return exprErrorf(n.Off, "%s() cannot convert %s", n.Name, args[0].Kind)
	}
	if n.Name == "size" && !n.Method {
		if k := args[0].Kind; k != ExprDyn && k != ExprString && k != ExprListKind && k != ExprMapKind {
			return exprErrorf(n.Off, "size of %s", k)
		}
	}
	if n.Name == "matches" {
		pat := args[len(args)-1]
		if pat.Op == ExprLiteral {
			re, err := regexp.Compile(pat.Value.Str)
			if err != nil {
				return exprErrorf(pat.Off, "matches: %v", err)
			}
			n.Regexp = re
		}
	}
	n.Kind, n.Elem = f.result, f.resultElem
	if n.Kind == ExprListKind && n.Elem == 0 {
		n.Elem = ExprDyn
	}
	return nil
}

// isStringExpr reports whether n is what Caddy's matcher functions take
// as an argument: a string literal, a placeholder, or a concatenation of
// those.
func isStringExpr(n *ExprNode) bool {
	switch n.Op {
	case ExprLiteral:
		return n.Value.Kind == ExprString
	case ExprPlaceholder:
		return true
	case ExprBinary:
		return n.Name == "+" && isStringExpr(n.Args[0]) && isStringExpr(n.Args[1])
	}
	return false
}

// constString folds a constant string expression (literals joined with
// +); ok is false when it has a placeholder.
func constString(n *ExprNode) (string, bool) {
	switch n.Op {
	case ExprLiteral:
		return n.Value.Str, n.Value.Kind == ExprString
	case ExprBinary:
		a, ok1 := constString(n.Args[0])
		b, ok2 := constString(n.Args[1])
		return a + b, ok1 && ok2
	}
	return "", false
}

// matcherCall checks a call of one of Caddy's matcher functions: the
// arguments must be strings (literals, placeholders or their
// concatenations), or, for header and query, one map literal of strings
// or lists of strings. With constant arguments its matcher set is built
// now, and validated as a matcher line's.
func (c *exprChecker) matcherCall(n *ExprNode) *exprError {
	n.Op, n.Kind = ExprMatcher, ExprBool
	constant := true
	if n.Name == "header" || n.Name == "query" {
		if len(n.Args) != 1 || n.Args[0].Op != ExprMap {
			return exprErrorf(n.Off, "%s takes one map literal, as %s({'%s': 'value'})", n.Name, n.Name, map[bool]string{true: "X-Name", false: "key"}[n.Name == "header"])
		}
		mp := n.Args[0]
		for i, e := range mp.Args {
			ok := isStringExpr(e)
			if i%2 == 1 && !ok && e.Op == ExprList {
				ok = len(e.Args) > 0
				for _, x := range e.Args {
					ok = ok && isStringExpr(x)
					_, k := constString(x)
					constant = constant && k
				}
			} else {
				_, k := constString(e)
				constant = constant && k
			}
			if !ok {
				return exprErrorf(e.start(), "%s: map keys must be strings and values strings or lists of strings (literals or placeholders), as Caddy's", n.Name)
			}
		}
	} else {
		if len(n.Args) == 0 {
			return exprErrorf(n.Off, "%s needs an argument", n.Name)
		}
		for _, a := range n.Args {
			if !isStringExpr(a) {
				return exprErrorf(a.start(), "%s: arguments must be strings: literals, placeholders or their concatenation, as Caddy's matcher functions take them (Caddy refuses this argument too)", n.Name)
			}
			_, k := constString(a)
			constant = constant && k
		}
	}
	for _, a := range n.Args {
		c.kinds(a)
	}
	if !constant {
		return nil // built per request from the placeholders' values
	}
	words, err := MatcherCallWords(n.Name, constArgs(n))
	if err != nil {
		return exprErrorf(n.Off, "%v", err)
	}
	m := &Matcher{Name: c.m.Name}
	for _, line := range words {
		if err := m.AddCondition(line...); err != nil {
			return exprErrorf(n.Off, "%v", err)
		}
	}
	n.Matcher = m
	return nil
}

// start is the offset of n's leftmost part (a method call's node is at
// its name, a binary operation's at its operator).
func (n *ExprNode) start() int {
	off := n.Off
	for _, a := range n.Args {
		off = min(off, a.start())
	}
	return off
}

// kinds sets the kinds of an argument subtree the checker skipped.
func (c *exprChecker) kinds(n *ExprNode) {
	for _, a := range n.Args {
		c.kinds(a)
	}
	switch n.Op {
	case ExprLiteral:
		n.Kind = n.Value.Kind
	case ExprBinary:
		n.Kind = ExprString
	case ExprList:
		n.Kind, n.Elem = ExprListKind, ExprString
	case ExprMap:
		n.Kind, n.Elem = ExprMapKind, ExprDyn
	}
}

// ExprArg is a matcher function's argument, evaluated: a string, or for
// a map entry a key and its values.
type ExprArg struct {
	Key    string
	Values []string
}

// constArgs are a constant matcher call's arguments.
func constArgs(n *ExprNode) []ExprArg {
	var out []ExprArg
	if n.Name == "header" || n.Name == "query" {
		mp := n.Args[0]
		for i := 0; i+1 < len(mp.Args); i += 2 {
			k, _ := constString(mp.Args[i])
			a := ExprArg{Key: k}
			if v := mp.Args[i+1]; v.Op == ExprList {
				for _, x := range v.Args {
					s, _ := constString(x)
					a.Values = append(a.Values, s)
				}
			} else {
				s, _ := constString(v)
				a.Values = []string{s}
			}
			out = append(out, a)
		}
		return out
	}
	for _, a := range n.Args {
		s, _ := constString(a)
		out = append(out, ExprArg{Values: []string{s}})
	}
	return out
}

// MatcherCallWords turns a matcher function call's evaluated arguments
// into the matcher lines it stands for: path('/a', '/b') is "path /a /b",
// header({'X': ['a', 'b']}) "header X a b", query({'q': '*'}) "query q=*".
func MatcherCallWords(fn string, args []ExprArg) ([][]string, error) {
	switch fn {
	case "header":
		var lines [][]string
		for _, a := range args {
			lines = append(lines, append([]string{"header", a.Key}, a.Values...))
		}
		return lines, nil
	case "query":
		line := []string{"query"}
		for _, a := range args {
			for _, v := range a.Values {
				line = append(line, a.Key+"="+v)
			}
		}
		return [][]string{line}, nil
	}
	line := []string{fn}
	for _, a := range args {
		line = append(line, a.Values...)
	}
	switch fn {
	case "path_regexp":
		if len(line) > 3 {
			return nil, errors.New("path_regexp takes a regexp, or a name and a regexp")
		}
	case "header_regexp":
		if len(line) < 3 || len(line) > 4 {
			return nil, errors.New("header_regexp takes a field and a regexp, or a name, a field and a regexp")
		}
	case "protocol":
		if len(line) != 2 {
			return nil, errors.New("protocol takes one protocol")
		}
	}
	return [][]string{line}, nil
}

// AddCondition adds one matcher line, "path /a /b", to m, with the checks
// a line in a Caddyfile gets (errors have no position).
func (m *Matcher) AddCondition(words ...string) error {
	toks := make([]token, len(words))
	for i, w := range words {
		toks[i] = token{kind: tokQuoted, text: w}
	}
	b := &builder{opts: ParseOptions{LookupEnv: func(string) (string, bool) { return "", false }}, cfg: &Config{}}
	name := m.Name
	m.Name = ""
	err := b.matcherCond(m, &node{args: toks})
	m.Name = name
	if ce, ok := errors.AsType[*Error](err); ok {
		return errors.New(strings.TrimPrefix(ce.Msg, ": "))
	}
	return err
}

// source is a literal as CEL writes it.
func (n *ExprNode) source() string {
	v := n.Value
	switch v.Kind {
	case ExprNull:
		return "null"
	case ExprBool:
		return strconv.FormatBool(v.Bool)
	case ExprInt:
		return strconv.FormatInt(v.Int, 10)
	case ExprDouble:
		s := strconv.FormatFloat(v.Double, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		return s
	}
	return strconv.Quote(v.Str)
}

// write appends n to b, every operation parenthesized.
func (n *ExprNode) write(b *strings.Builder) {
	list := func(ns []*ExprNode) {
		for i, a := range ns {
			if i > 0 {
				b.WriteString(", ")
			}
			a.write(b)
		}
	}
	switch n.Op {
	case ExprLiteral:
		b.WriteString(n.source())
	case ExprPlaceholder:
		b.WriteString("{" + n.Placeholder.Long() + "}")
	case ExprList:
		b.WriteByte('[')
		list(n.Args)
		b.WriteByte(']')
	case ExprMap:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Args); i += 2 {
			if i > 0 {
				b.WriteString(", ")
			}
			n.Args[i].write(b)
			b.WriteString(": ")
			n.Args[i+1].write(b)
		}
		b.WriteByte('}')
	case ExprUnary:
		b.WriteString(n.Name)
		n.Args[0].write(b)
	case ExprBinary:
		b.WriteByte('(')
		n.Args[0].write(b)
		b.WriteString(" " + n.Name + " ")
		n.Args[1].write(b)
		b.WriteByte(')')
	case ExprCond:
		b.WriteByte('(')
		n.Args[0].write(b)
		b.WriteString(" ? ")
		n.Args[1].write(b)
		b.WriteString(" : ")
		n.Args[2].write(b)
		b.WriteByte(')')
	case ExprIndex:
		n.Args[0].write(b)
		b.WriteByte('[')
		n.Args[1].write(b)
		b.WriteByte(']')
	case ExprSelect:
		n.Args[0].write(b)
		b.WriteString("." + n.Name)
	case ExprCall, ExprMatcher:
		args := n.Args
		if n.Method {
			args[0].write(b)
			b.WriteByte('.')
			args = args[1:]
		}
		b.WriteString(n.Name + "(")
		list(args)
		b.WriteByte(')')
	}
}

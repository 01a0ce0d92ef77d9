package proxy

import (
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tether-proxy/tether/config"
)

// Caddy's expression matcher: a CEL expression, parsed and checked by
// config (config.Expression), evaluated here per request. Evaluation walks
// the tree once; values are plain structs, constants (literals, constant
// lists and maps, matcher functions with constant arguments) are built
// once, and the common operations (placeholders, comparisons, string
// tests, matcher functions) allocate nothing. A run-time error (a type
// mismatch on a placeholder's value, a missing key, an overflow) makes the
// expression false, as in Caddy; && and || absorb an error when the other
// side decides (CEL's rule).

// celKind is the kind of a run-time value; the zero value is an error.
type celKind uint8

const (
	celErr celKind = iota
	celNull
	celBool
	celInt
	celDouble
	celString
	celList
	celMapKind
)

// celValue is a CEL value. s holds a string, or an error's message.
type celValue struct {
	k celKind
	b bool
	i int64
	f float64
	s string
	l []celValue
	m *celMapping
}

// celMapping is a map value: keys[i] maps to vals[i].
type celMapping struct{ keys, vals []celValue }

var (
	celTrue  = celValue{k: celBool, b: true}
	celFalse = celValue{k: celBool}
	celNil   = celValue{k: celNull}
)

func celBoolOf(b bool) celValue    { return celValue{k: celBool, b: b} }
func celIntOf(i int64) celValue    { return celValue{k: celInt, i: i} }
func celStr(s string) celValue     { return celValue{k: celString, s: s} }
func celError(msg string) celValue { return celValue{k: celErr, s: msg} }

// celMaxString bounds the strings an expression builds (replace, join,
// +), and celMaxList the lists (split, +), so that a request's header
// cannot make one grow without bound.
const (
	celMaxString = 1 << 20
	celMaxList   = 1 << 12
)

// celProgram is a compiled expression.
type celProgram struct {
	root    *celNode
	trusted *trustedProxies // for client_ip
}

// celNode is a compiled node: op and name are config's; constants are
// folded into lit.
type celNode struct {
	op       config.ExprOp
	name     string
	method   bool
	constant bool
	lit      celValue
	ph       config.TemplatePart
	args     []*celNode
	m        *matcher // a matcher function with constant arguments
	re       *regexp.Regexp
}

func compileExpr(e *config.Expression, trusted *trustedProxies) *celProgram {
	return &celProgram{root: compileCELNode(e.Root, trusted), trusted: trusted}
}

func compileCELNode(n *config.ExprNode, trusted *trustedProxies) *celNode {
	c := &celNode{op: n.Op, name: n.Name, method: n.Method, ph: n.Placeholder, re: n.Regexp}
	for _, a := range n.Args {
		c.args = append(c.args, compileCELNode(a, trusted))
	}
	switch n.Op {
	case config.ExprLiteral:
		c.constant, c.lit = true, literalValue(n.Value)
	case config.ExprMatcher:
		if n.Matcher != nil {
			c.m = compileMatcher(n.Matcher, trusted)
		}
	case config.ExprList, config.ExprMap:
		// A list or map of constants is built once.
		c.constant = true
		for _, a := range c.args {
			c.constant = c.constant && a.constant
		}
		if c.constant {
			c.lit = c.build(nil, nil)
		}
	}
	return c
}

func literalValue(v config.ExprValue) celValue {
	switch v.Kind {
	case config.ExprBool:
		return celBoolOf(v.Bool)
	case config.ExprInt:
		return celIntOf(v.Int)
	case config.ExprDouble:
		return celValue{k: celDouble, f: v.Double}
	case config.ExprString:
		return celStr(v.Str)
	}
	return celNil
}

// match reports whether the expression is true for r.
func (p *celProgram) match(r *http.Request) bool {
	v := p.root.eval(r, p)
	return v.k == celBool && v.b
}

// eval evaluates n for r.
func (n *celNode) eval(r *http.Request, p *celProgram) celValue {
	if n.constant {
		return n.lit
	}
	switch n.op {
	case config.ExprPlaceholder:
		return p.placeholder(n.ph, r)
	case config.ExprList, config.ExprMap:
		return n.build(r, p)
	case config.ExprUnary:
		v := n.args[0].eval(r, p)
		switch {
		case n.name == "!" && v.k == celBool:
			return celBoolOf(!v.b)
		case n.name == "-" && v.k == celInt:
			if v.i == math.MinInt64 {
				return celError("integer overflow")
			}
			return celIntOf(-v.i)
		case n.name == "-" && v.k == celDouble:
			return celValue{k: celDouble, f: -v.f}
		case v.k == celErr:
			return v
		}
		return celError("no such overload: " + n.name)
	case config.ExprBinary:
		return n.binary(r, p)
	case config.ExprCond:
		c := n.args[0].eval(r, p)
		if c.k != celBool {
			return errOr(c, "?: condition is not a bool")
		}
		if c.b {
			return n.args[1].eval(r, p)
		}
		return n.args[2].eval(r, p)
	case config.ExprIndex:
		return index(n.args[0].eval(r, p), n.args[1].eval(r, p))
	case config.ExprSelect:
		v := n.args[0].eval(r, p)
		if v.k != celMapKind {
			return errOr(v, "no such field: "+n.name)
		}
		return index(v, celStr(n.name))
	case config.ExprCall:
		return n.call(r, p)
	case config.ExprMatcher:
		return n.matcherCall(r, p)
	}
	return celError("bad expression")
}

// errOr is v when it is an error already, else an error with msg.
func errOr(v celValue, msg string) celValue {
	if v.k == celErr {
		return v
	}
	return celError(msg)
}

// build makes the list or map n stands for.
func (n *celNode) build(r *http.Request, p *celProgram) celValue {
	vals := make([]celValue, len(n.args))
	for i, a := range n.args {
		if vals[i] = a.eval(r, p); vals[i].k == celErr {
			return vals[i]
		}
	}
	if n.op == config.ExprList {
		return celValue{k: celList, l: vals}
	}
	m := &celMapping{}
	for i := 0; i+1 < len(vals); i += 2 {
		k := vals[i]
		if k.k != celString && k.k != celInt && k.k != celBool {
			return celError("unsupported map key type")
		}
		for _, old := range m.keys {
			if eq, _ := celEqual(old, k); eq {
				return celError("duplicate map key")
			}
		}
		m.keys = append(m.keys, k)
		m.vals = append(m.vals, vals[i+1])
	}
	return celValue{k: celMapKind, m: m}
}

func (n *celNode) binary(r *http.Request, p *celProgram) celValue {
	switch n.name {
	case "&&", "||":
		// CEL's logical operators are commutative: a side that decides
		// wins over an error on the other.
		decide := n.name == "||"
		a := n.args[0].eval(r, p)
		if a.k == celBool && a.b == decide {
			return a
		}
		b := n.args[1].eval(r, p)
		if b.k == celBool && b.b == decide {
			return b
		}
		if a.k != celBool {
			return errOr(a, "no such overload: "+n.name)
		}
		if b.k != celBool {
			return errOr(b, "no such overload: "+n.name)
		}
		return celBoolOf(!decide)
	}
	a := n.args[0].eval(r, p)
	if a.k == celErr {
		return a
	}
	b := n.args[1].eval(r, p)
	if b.k == celErr {
		return b
	}
	switch n.name {
	case "==", "!=":
		eq, ok := celEqual(a, b)
		if !ok {
			return celError("no such overload: " + n.name)
		}
		return celBoolOf(eq == (n.name == "=="))
	case "<", "<=", ">", ">=":
		c, ok := celCompare(a, b)
		if !ok {
			return celError("no such overload: " + n.name)
		}
		if c == celUnordered {
			return celFalse // NaN
		}
		switch n.name {
		case "<":
			return celBoolOf(c < 0)
		case "<=":
			return celBoolOf(c <= 0)
		case ">":
			return celBoolOf(c > 0)
		}
		return celBoolOf(c >= 0)
	case "in":
		switch b.k {
		case celList:
			for _, x := range b.l {
				if eq, _ := celEqual(a, x); eq {
					return celTrue
				}
			}
			return celFalse
		case celMapKind:
			for _, k := range b.m.keys {
				if eq, _ := celEqual(a, k); eq {
					return celTrue
				}
			}
			return celFalse
		}
		return celError("no such overload: in")
	}
	return arith(n.name, a, b)
}

// celEqual is CEL's equality: numbers compare by value across int and
// double, values of different kinds are unequal, lists and maps compare
// element by element. ok is false for an error operand.
func celEqual(a, b celValue) (eq, ok bool) {
	if a.k == celErr || b.k == celErr {
		return false, false
	}
	if a.k != b.k {
		if (a.k == celInt || a.k == celDouble) && (b.k == celInt || b.k == celDouble) {
			c, _ := celCompare(a, b)
			return c == 0, true
		}
		return false, true
	}
	switch a.k {
	case celNull:
		return true, true
	case celBool:
		return a.b == b.b, true
	case celInt:
		return a.i == b.i, true
	case celDouble:
		return a.f == b.f, true
	case celString:
		return a.s == b.s, true
	case celList:
		if len(a.l) != len(b.l) {
			return false, true
		}
		for i := range a.l {
			if eq, ok := celEqual(a.l[i], b.l[i]); !eq || !ok {
				return false, ok
			}
		}
		return true, true
	case celMapKind:
		if len(a.m.keys) != len(b.m.keys) {
			return false, true
		}
		for i, k := range a.m.keys {
			v := index(b, k)
			if v.k == celErr {
				return false, true
			}
			if eq, ok := celEqual(a.m.vals[i], v); !eq || !ok {
				return false, ok
			}
		}
		return true, true
	}
	return false, false
}

// celUnordered is celCompare's result for a NaN: every comparison is
// false.
const celUnordered = 2

// celCompare orders a and b: numbers (across int and double), strings
// (by bytes) and bools (false first).
func celCompare(a, b celValue) (int, bool) {
	switch {
	case a.k == celInt && b.k == celInt:
		return cmpOrdered(a.i, b.i), true
	case (a.k == celInt || a.k == celDouble) && (b.k == celInt || b.k == celDouble):
		x, y := a.f, b.f
		if a.k == celInt {
			x = float64(a.i)
		}
		if b.k == celInt {
			y = float64(b.i)
		}
		if math.IsNaN(x) || math.IsNaN(y) {
			return celUnordered, true
		}
		return cmpOrdered(x, y), true
	case a.k == celString && b.k == celString:
		return strings.Compare(a.s, b.s), true
	case a.k == celBool && b.k == celBool:
		switch {
		case a.b == b.b:
			return 0, true
		case b.b:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// arith is + - * / % on ints (overflow is an error), doubles, and +
// on strings and lists.
func arith(op string, a, b celValue) celValue {
	switch {
	case a.k == celInt && b.k == celInt:
		x, y := a.i, b.i
		switch op {
		case "+":
			if s := x + y; (s > x) == (y > 0) {
				return celIntOf(s)
			}
		case "-":
			if s := x - y; (s < x) == (y > 0) {
				return celIntOf(s)
			}
		case "*":
			if x == 0 || y == 0 {
				return celIntOf(0)
			}
			if s := x * y; s/y == x && !(x == -1 && y == math.MinInt64) && !(y == -1 && x == math.MinInt64) {
				return celIntOf(s)
			}
		case "/", "%":
			if y == 0 {
				return celError("division by zero")
			}
			if x == math.MinInt64 && y == -1 {
				break
			}
			if op == "/" {
				return celIntOf(x / y)
			}
			return celIntOf(x % y)
		}
		return celError("integer overflow")
	case a.k == celDouble && b.k == celDouble:
		switch op {
		case "+":
			return celValue{k: celDouble, f: a.f + b.f}
		case "-":
			return celValue{k: celDouble, f: a.f - b.f}
		case "*":
			return celValue{k: celDouble, f: a.f * b.f}
		case "/":
			return celValue{k: celDouble, f: a.f / b.f}
		}
	case op == "+" && a.k == celString && b.k == celString:
		if len(a.s)+len(b.s) > celMaxString {
			return celError("string too long")
		}
		return celStr(a.s + b.s)
	case op == "+" && a.k == celList && b.k == celList:
		if len(a.l)+len(b.l) > celMaxList {
			return celError("list too long")
		}
		l := make([]celValue, 0, len(a.l)+len(b.l))
		return celValue{k: celList, l: append(append(l, a.l...), b.l...)}
	}
	return celError("no such overload: " + op)
}

// index is a[i]: a list's element, or a map's value for key i.
func index(a, i celValue) celValue {
	switch {
	case a.k == celErr:
		return a
	case i.k == celErr:
		return i
	case a.k == celList:
		if i.k == celDouble && i.f == math.Trunc(i.f) {
			i = celIntOf(int64(i.f))
		}
		if i.k != celInt {
			return celError("list index is not an int")
		}
		if i.i < 0 || i.i >= int64(len(a.l)) {
			return celError("index out of range")
		}
		return a.l[i.i]
	case a.k == celMapKind:
		for j, k := range a.m.keys {
			if eq, _ := celEqual(k, i); eq {
				return a.m.vals[j]
			}
		}
		return celError("no such key")
	}
	return celError("no such overload: index")
}

// placeholder is a placeholder's value for r: a string, an int (status
// codes, ports, as Caddy's) or null (an error or member answer placeholder
// where there is none).
func (p *celProgram) placeholder(ph config.TemplatePart, r *http.Request) celValue {
	switch ph.Var {
	case "path":
		return celStr(r.URL.Path)
	case "method":
		return celStr(r.Method)
	case "host":
		return celStr(hostOnly(r.Host))
	case "hostport":
		return celStr(r.Host)
	case "scheme":
		if r.TLS != nil {
			return celStr("https")
		}
		return celStr("http")
	case "query":
		if ph.Arg == "" {
			return celStr(r.URL.RawQuery)
		}
		return celStr(strings.Join(r.URL.Query()[ph.Arg], ","))
	case "header":
		return celStr(joinValues(r.Header.Values(ph.Arg)))
	case "remote_host":
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return celStr(r.RemoteAddr)
		}
		return celStr(host)
	case "remote_port":
		_, port, _ := net.SplitHostPort(r.RemoteAddr)
		return portValue(port)
	case "port":
		return portValue(requestPort(r))
	case "client_ip":
		return celStr(clientHost(r, p.trusted))
	case "err.status_code", "err.status_text", "err.message", "err.id":
		e := errorOf(r)
		if e == nil {
			return celNil
		}
		if ph.Var == "err.status_code" {
			return celIntOf(int64(e.status))
		}
		return celStr(errPlaceholder(r, ph.Var))
	case "rp.status_code", "rp.status_text", "rp.header":
		resp := interceptedOf(r)
		if resp == nil {
			return celNil
		}
		switch ph.Var {
		case "rp.status_code":
			return celIntOf(int64(resp.StatusCode))
		case "rp.status_text":
			return celStr(resp.Status)
		}
		return celStr(joinValues(resp.Header.Values(ph.Arg)))
	}
	return celStr(expand(&config.Template{Parts: []config.TemplatePart{ph}}, r, ""))
}

// joinValues is a field's values joined with commas, as Caddy's header
// placeholders give them; one value is returned as it is.
func joinValues(vs []string) string {
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs, ",")
}

// portValue is a port as Caddy's placeholders give it: an int when it is
// one.
func portValue(s string) celValue {
	if n, err := strconv.Atoi(s); err == nil {
		return celIntOf(int64(n))
	}
	return celStr(s)
}

// call runs a function or method (config checked its name and arity).
func (n *celNode) call(r *http.Request, p *celProgram) celValue {
	var buf [4]celValue
	args := buf[:0]
	for _, a := range n.args {
		v := a.eval(r, p)
		if v.k == celErr {
			return v
		}
		args = append(args, v)
	}
	switch n.name {
	case "size":
		return celSize(args[0])
	case "int", "double", "string", "bool", "dyn":
		return convert(n.name, args[0])
	case "matches":
		s, pat := args[0], args[len(args)-1]
		if s.k != celString || pat.k != celString {
			return celError("no such overload: matches")
		}
		re := n.re
		if re == nil {
			var err error
			if re, err = regexp.Compile(pat.s); err != nil {
				return celError("matches: " + err.Error())
			}
		}
		return celBoolOf(re.MatchString(s.s))
	case "join":
		return join(args)
	}
	return stringMethod(n.name, args)
}

func celSize(v celValue) celValue {
	switch v.k {
	case celString:
		return celIntOf(int64(utf8.RuneCountInString(v.s)))
	case celList:
		return celIntOf(int64(len(v.l)))
	case celMapKind:
		return celIntOf(int64(len(v.m.keys)))
	}
	return celError("no such overload: size")
}

// convert is int(), double(), string(), bool() and dyn().
func convert(fn string, v celValue) celValue {
	switch fn {
	case "dyn":
		return v
	case "int":
		switch v.k {
		case celInt:
			return v
		case celDouble:
			if math.IsNaN(v.f) || v.f <= math.MinInt64 || v.f >= math.MaxInt64 {
				return celError("int() out of range")
			}
			return celIntOf(int64(v.f))
		case celString:
			if i, err := strconv.ParseInt(v.s, 10, 64); err == nil {
				return celIntOf(i)
			}
			return celError("int() cannot convert " + strconv.Quote(v.s))
		}
	case "double":
		switch v.k {
		case celDouble:
			return v
		case celInt:
			return celValue{k: celDouble, f: float64(v.i)}
		case celString:
			if f, err := strconv.ParseFloat(v.s, 64); err == nil {
				return celValue{k: celDouble, f: f}
			}
			return celError("double() cannot convert " + strconv.Quote(v.s))
		}
	case "string":
		switch v.k {
		case celString:
			return v
		case celInt:
			return celStr(strconv.FormatInt(v.i, 10))
		case celDouble:
			return celStr(strconv.FormatFloat(v.f, 'g', -1, 64))
		case celBool:
			return celStr(strconv.FormatBool(v.b))
		}
	case "bool":
		switch v.k {
		case celBool:
			return v
		case celString:
			if b, err := strconv.ParseBool(v.s); err == nil {
				return celBoolOf(b)
			}
			return celError("bool() cannot convert " + strconv.Quote(v.s))
		}
	}
	return celError("no such overload: " + fn)
}

// join is list.join([sep]): the list's strings joined.
func join(args []celValue) celValue {
	l := args[0]
	sep := ""
	if len(args) > 1 {
		if args[1].k != celString {
			return celError("no such overload: join")
		}
		sep = args[1].s
	}
	if l.k != celList {
		return celError("no such overload: join")
	}
	n := 0
	for _, v := range l.l {
		if v.k != celString {
			return celError("join: the list has a " + "non-string")
		}
		n += len(v.s) + len(sep)
	}
	if n > celMaxString {
		return celError("string too long")
	}
	var b strings.Builder
	for i, v := range l.l {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(v.s)
	}
	return celStr(b.String())
}

// stringMethod runs a method of strings; positions and lengths count
// code points, as CEL's.
func stringMethod(fn string, args []celValue) celValue {
	s := args[0]
	if s.k != celString {
		return celError("no such overload: " + fn)
	}
	for _, a := range args[1:] {
		if a.k != celString && a.k != celInt {
			return celError("no such overload: " + fn)
		}
	}
	str := func(i int) (string, bool) {
		if i >= len(args) || args[i].k != celString {
			return "", false
		}
		return args[i].s, true
	}
	num := func(i int, def int64) (int64, bool) {
		if i >= len(args) {
			return def, true
		}
		return args[i].i, args[i].k == celInt
	}
	switch fn {
	case "contains", "startsWith", "endsWith":
		sub, ok := str(1)
		if !ok {
			break
		}
		switch fn {
		case "contains":
			return celBoolOf(strings.Contains(s.s, sub))
		case "startsWith":
			return celBoolOf(strings.HasPrefix(s.s, sub))
		}
		return celBoolOf(strings.HasSuffix(s.s, sub))
	case "lowerAscii", "upperAscii":
		return celStr(asciiCase(s.s, fn == "upperAscii"))
	case "trim":
		return celStr(strings.TrimSpace(s.s))
	case "replace":
		old, ok1 := str(1)
		repl, ok2 := str(2)
		limit, ok3 := num(3, -1)
		if !ok1 || !ok2 || !ok3 {
			break
		}
		count := strings.Count(s.s, old)
		if limit >= 0 && int64(count) > limit {
			count = int(limit)
		}
		if len(s.s)+count*(len(repl)-len(old)) > celMaxString {
			return celError("string too long")
		}
		return celStr(strings.Replace(s.s, old, repl, int(max(limit, -1))))
	case "split":
		sep, ok1 := str(1)
		limit, ok2 := num(2, -1)
		if !ok1 || !ok2 {
			break
		}
		if limit == 0 {
			return celValue{k: celList}
		}
		n := int(max(min(limit, math.MaxInt32), -1))
		if n < 0 || n > celMaxList {
			if strings.Count(s.s, sep) >= celMaxList {
				return celError("split: too many parts")
			}
		}
		parts := strings.SplitN(s.s, sep, n)
		l := make([]celValue, len(parts))
		for i, x := range parts {
			l[i] = celStr(x)
		}
		return celValue{k: celList, l: l}
	case "indexOf", "lastIndexOf":
		sub, ok1 := str(1)
		n := int64(utf8.RuneCountInString(s.s))
		def := int64(0)
		if fn == "lastIndexOf" {
			def = n
		}
		start, ok2 := num(2, def)
		if !ok1 || !ok2 {
			break
		}
		if start < 0 || start > n {
			return celError(fn + ": index out of range")
		}
		if fn == "indexOf" {
			off := runeOffset(s.s, start)
			i := strings.Index(s.s[off:], sub)
			if i < 0 {
				return celIntOf(-1)
			}
			return celIntOf(start + int64(utf8.RuneCountInString(s.s[off:off+i])))
		}
		end := runeOffset(s.s, start)
		end = min(end+len(sub), len(s.s))
		i := strings.LastIndex(s.s[:end], sub)
		if i < 0 {
			return celIntOf(-1)
		}
		return celIntOf(int64(utf8.RuneCountInString(s.s[:i])))
	case "substring":
		n := int64(utf8.RuneCountInString(s.s))
		lo, ok1 := num(1, 0)
		hi, ok2 := num(2, n)
		if !ok1 || !ok2 {
			break
		}
		if lo < 0 || hi > n || lo > hi {
			return celError("substring: index out of range")
		}
		return celStr(s.s[runeOffset(s.s, lo):runeOffset(s.s, hi)])
	case "charAt":
		n := int64(utf8.RuneCountInString(s.s))
		i, ok := num(1, 0)
		if !ok {
			break
		}
		if i < 0 || i > n {
			return celError("charAt: index out of range")
		}
		off := runeOffset(s.s, i)
		_, size := utf8.DecodeRuneInString(s.s[off:])
		return celStr(s.s[off : off+size])
	}
	return celError("no such overload: " + fn)
}

// runeOffset is the byte offset of code point i of s (len(s) past the
// end).
func runeOffset(s string, i int64) int {
	for off := range s {
		if i == 0 {
			return off
		}
		i--
	}
	return len(s)
}

// asciiCase maps ASCII letters to upper or lower case, allocating only
// when something changes.
func asciiCase(s string, upper bool) string {
	from, to := byte('A'), byte('a')
	if upper {
		from, to = 'a', 'A'
	}
	i := 0
	for i < len(s) && (s[i] < from || s[i] > from+25) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if b[i] >= from && b[i] <= from+25 {
			b[i] = b[i] - from + to
		}
	}
	return string(b)
}

// matcherCall runs one of Caddy's matcher functions: its matcher set,
// built at load when its arguments are constant, else from their values.
func (n *celNode) matcherCall(r *http.Request, p *celProgram) celValue {
	if n.m != nil {
		return celBoolOf(n.m.match(r))
	}
	var args []config.ExprArg
	if n.name == "header" || n.name == "query" {
		mp := n.args[0].eval(r, p)
		if mp.k != celMapKind {
			return errOr(mp, n.name+": not a map")
		}
		for i, k := range mp.m.keys {
			a := config.ExprArg{Key: k.s}
			switch v := mp.m.vals[i]; v.k {
			case celString:
				a.Values = []string{v.s}
			case celList:
				for _, x := range v.l {
					a.Values = append(a.Values, x.s)
				}
			}
			args = append(args, a)
		}
	} else {
		for _, a := range n.args {
			v := a.eval(r, p)
			if v.k != celString {
				return errOr(v, n.name+": argument is not a string")
			}
			args = append(args, config.ExprArg{Values: []string{v.s}})
		}
	}
	words, err := config.MatcherCallWords(n.name, args)
	if err != nil {
		return celError(err.Error())
	}
	m := &config.Matcher{}
	for _, line := range words {
		if err := m.AddCondition(line...); err != nil {
			return celError(err.Error())
		}
	}
	return celBoolOf(compileMatcher(m, p.trusted).match(r))
}

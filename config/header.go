package config

import "strings"

// Header is one `header` directive (Caddy's) of a site: operations on the
// response's header fields.
type Header struct {
	Ops []HeaderOp
	Pos Pos
}

// HeaderOp is one operation of a header directive.
type HeaderOp struct {
	// Op is "set" (Field value), "add" (+Field value), "delete" (-Field;
	// a Field of "Prefix*" or "*Suffix" deletes every match), "default"
	// (?Field value: set when the answer has none) or "replace" (Field
	// find replace: every occurrence of Find in its values).
	Op    string
	Field string
	Value string
	// Template is Value's placeholders, filled in per request; nil when
	// Value has none.
	Template *Template
	// Find and Replace are the replace operation's.
	Find, Replace string
	// Deferred operations are applied to the answer's header as it is
	// written (after the member's fields are in); the others before the
	// request is handled. Deletions and defaults are always deferred, so
	// are fields written with ">" and every operation of a block with
	// `defer`.
	Deferred bool
	Pos      Pos
}

// header parses
//
//	header [[+|-|?|>]FIELD [VALUE | FIND REPLACE]] [{
//	    [+|-|?|>]FIELD [VALUE | FIND REPLACE]
//	    defer
//	}]
func header(n *node) (*Header, error) {
	h := &Header{Pos: n.args[0].pos}
	if n.nargs() > 0 {
		if t := n.arg(0).text; strings.HasPrefix(t, "@") || strings.HasPrefix(t, "/") || t == "*" {
			return nil, errorf(n.arg(0).pos, "header: matchers (%s) are not supported yet: header applies to every answer of the site", t)
		}
		op, err := headerOp(n.arg(0), n.args[2:])
		if err != nil {
			return nil, err
		}
		h.Ops = append(h.Ops, op)
	}
	deferAll := false
	for _, s := range n.block {
		if s.name() == "defer" {
			if err := s.simple(0); err != nil {
				return nil, err
			}
			deferAll = true
			continue
		}
		if err := s.noBlock(); err != nil {
			return nil, err
		}
		op, err := headerOp(s.args[0], s.args[1:])
		if err != nil {
			return nil, err
		}
		h.Ops = append(h.Ops, op)
	}
	if len(h.Ops) == 0 {
		return nil, errorf(n.args[0].pos, "header: no field to change")
	}
	if deferAll {
		for i := range h.Ops {
			h.Ops[i].Deferred = true
		}
	}
	return h, nil
}

func headerOp(field token, args []token) (HeaderOp, error) {
	op := HeaderOp{Op: "set", Field: field.text, Pos: field.pos}
	if f := op.Field; f != "" {
		switch f[0] {
		case '+':
			op.Op, op.Field = "add", f[1:]
		case '-':
			op.Op, op.Field, op.Deferred = "delete", f[1:], true
		case '?':
			op.Op, op.Field, op.Deferred = "default", f[1:], true
		case '>':
			op.Field, op.Deferred = f[1:], true
		}
	}
	f := op.Field
	wild := strings.HasPrefix(f, "*") || strings.HasSuffix(f, "*")
	core := strings.TrimSuffix(strings.TrimPrefix(f, "*"), "*")
	if !validFieldName(core) || strings.Contains(core, "*") {
		return op, errorf(field.pos, "header: %q is not a header field name", field.text)
	}
	if wild && op.Op != "delete" {
		return op, errorf(field.pos, "header: a wildcard field (%s) only deletes (-%s)", f, f)
	}
	switch {
	case op.Op == "delete":
		if len(args) > 0 {
			return op, errorf(args[0].pos, "header: -%s deletes the field and takes no value", op.Field)
		}
	case len(args) == 1:
		op.Value = args[0].text
		t, err := parseTemplate(args[0])
		if err != nil {
			return op, err
		}
		if !t.Static() {
			op.Template = &t
		}
	case len(args) == 2 && (op.Op == "set"):
		op.Op, op.Find, op.Replace = "replace", args[0].text, args[1].text
	case len(args) == 0:
		return op, errorf(field.pos, "header: %s needs a value", field.text)
	default:
		return op, errorf(args[len(args)-1].pos, "header: unexpected argument %q", args[len(args)-1].text)
	}
	return op, nil
}

// validFieldName reports whether s is an RFC 9110 token.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Limits that keep a hostile or mistaken config from exhausting memory.
const (
	maxTokens      = 1 << 18 // tokens after every import is expanded
	maxImportDepth = 32      // nested imports (files and snippets)
)

// snippet is a "(name) { ... }" definition: its body's tokens, placeholders
// for arguments still in them.
type snippet struct {
	pos  Pos
	toks []token
}

// expander resolves imports and snippets into one token stream.
type expander struct {
	opts     ParseOptions
	snippets map[string]snippet
	stack    []string // what is being imported, innermost last, for cycles
	depth    int      // brace depth of the output so far
	out      []token
	lines    int // lines expanded so far, bounded like tokens
}

// file lexes one file, replaces env placeholders (and args, when imported)
// and appends its expanded tokens.
func (e *expander) file(name string, src []byte, args []string, imported bool, from Pos) error {
	toks, err := lex(name, src, false)
	if err != nil {
		return err
	}
	return e.tokens(expandEnv(toks, e.opts.LookupEnv), imported, args, from)
}

// tokens appends toks line by line, expanding import lines and collecting
// snippet definitions found at the top level. With imported set, {args[...]}
// placeholders are replaced from args (passed by the import at from) in
// every line but the bodies of snippet definitions, which take the
// arguments of their own imports.
func (e *expander) tokens(toks []token, imported bool, args []string, from Pos) error {
	for i := 0; i < len(toks); {
		j := i + 1
		for j < len(toks) && !toks[j].first {
			j++
		}
		line := toks[i:j]
		if e.lines++; e.lines > maxTokens {
			// Snippets that import others twice over expand exponentially
			// even when they produce nothing.
			return errorf(line[0].pos, "config has more than %d lines after imports", maxTokens)
		}
		if imported && !(e.depth == 0 && isSnippetDef(line)) {
			var err error
			if line, err = expandArgs(line, args, from); err != nil {
				return err
			}
			if len(line) == 0 {
				i = j
				continue
			}
		}
		switch {
		case line[0].kind == tokWord && line[0].raw == "import":
			if err := e.importLine(line); err != nil {
				return err
			}
		case e.depth == 0 && isSnippetDef(line):
			end, err := closingBrace(toks, j, line[1])
			if err != nil {
				return err
			}
			name := line[0].raw[1 : len(line[0].raw)-1]
			if prev, dup := e.snippets[name]; dup {
				return errorf(line[0].pos, "snippet (%s) is already defined at %s", name, prev.pos)
			}
			e.snippets[name] = snippet{pos: line[0].pos, toks: toks[j:end]}
			j = end + 1
		default:
			for _, t := range line {
				switch t.brace {
				case '{':
					e.depth++
				case '}':
					e.depth--
				}
			}
			if len(e.out)+len(line) > maxTokens {
				return errorf(line[0].pos, "config has more than %d tokens after imports", maxTokens)
			}
			e.out = append(e.out, line...)
		}
		i = j
	}
	return nil
}

// isSnippetDef reports whether line is "(name) {".
func isSnippetDef(line []token) bool {
	if len(line) != 2 || line[0].kind != tokWord || line[1].brace != '{' {
		return false
	}
	s := line[0].raw // a placeholder never defines a snippet
	return len(s) > 2 && s[0] == '(' && s[len(s)-1] == ')' && !strings.ContainsAny(s[1:len(s)-1], "(){}")
}

// closingBrace finds the '}' that closes the block opened just before
// toks[from], which must be alone on its line.
func closingBrace(toks []token, from int, open token) (int, error) {
	depth := 1
	for k := from; k < len(toks); k++ {
		switch toks[k].brace {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				if !toks[k].first || k+1 < len(toks) && !toks[k+1].first {
					return 0, errorAt(toks[k].pos, "'}' must be alone on its line")
				}
				return k, nil
			}
		}
	}
	return 0, errorAt(open.pos, "'{' is never closed")
}

// importLine expands "import NAME [ARGS...]": a snippet if one of that name
// is defined, else a file or glob relative to the importing file.
func (e *expander) importLine(line []token) error {
	imp := line[0]
	if len(line) < 2 {
		return errorAt(imp.pos, "import: want a file, a glob or a snippet name")
	}
	for _, t := range line[1:] {
		if t.brace != 0 {
			return errorAt(t.pos, "import takes no block")
		}
	}
	name := line[1].text
	args := make([]string, 0, len(line)-2)
	for _, t := range line[2:] {
		args = append(args, t.text)
	}
	if len(e.stack) >= maxImportDepth {
		return errorf(imp.pos, "import %s: imports nested more than %d deep", name, maxImportDepth)
	}
	if sn, ok := e.snippets[name]; ok {
		key := "snippet (" + name + ")"
		if err := e.push(key, imp.pos); err != nil {
			return err
		}
		if err := e.tokens(sn.toks, true, args, imp.pos); err != nil {
			return err
		}
		e.stack = e.stack[:len(e.stack)-1]
		return nil
	}
	if name == "" {
		return errorAt(line[1].pos, "import: empty file name")
	}
	pattern := name
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(imp.pos.File), pattern)
	}
	files := []string{pattern}
	if strings.ContainsAny(name, `*?[\`) {
		matches, err := e.opts.Glob(pattern)
		if err != nil {
			return errorf(line[1].pos, "import %s: %w", name, err)
		}
		self, _ := filepath.Abs(imp.pos.File)
		files = files[:0]
		for _, m := range matches {
			if abs, _ := filepath.Abs(m); abs != self {
				files = append(files, m)
			}
		}
		slices.Sort(files)
	}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return errorf(line[1].pos, "import %s: %w", name, err)
		}
		if err := e.push("file "+abs, imp.pos); err != nil {
			return err
		}
		src, err := e.opts.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				ce := errorf(line[1].pos, "import %s: no snippet of that name and no file %s", name, f)
				ce.Err = err
				return ce
			}
			return errorf(line[1].pos, "import %s: %w", name, err)
		}
		if err := e.file(f, src, args, true, imp.pos); err != nil {
			return err
		}
		e.stack = e.stack[:len(e.stack)-1]
	}
	return nil
}

// push enters an import, failing if it is already being imported.
func (e *expander) push(key string, at Pos) error {
	if i := slices.Index(e.stack, key); i >= 0 {
		chain := append(slices.Clone(e.stack[i:]), key)
		return errorf(at, "import cycle: %s", strings.Join(chain, " -> "))
	}
	e.stack = append(e.stack, key)
	return nil
}

// readRegularFile is the default ParseOptions.ReadFile: it reads only
// regular files, so an import of /dev/zero fails instead of hanging.
func readRegularFile(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("not a regular file")}
	}
	return os.ReadFile(name)
}

// node is one directive line: its name and arguments, and its block.
type node struct {
	args     []token // name first
	hasBlock bool
	block    []*node
	open     Pos // the '{', when hasBlock
}

func (n *node) name() string { return n.args[0].text }

// siteNode is a site block: the address tokens and the directives.
type siteNode struct {
	keys []token
	body []*node
}

// tree is a parsed file: the global options block (nil if none) and sites.
type tree struct {
	global *node
	sites  []siteNode
}

// lineEnd returns the index after the line starting at toks[i].
func lineEnd(toks []token, i int) int {
	j := i + 1
	for j < len(toks) && !toks[j].first {
		j++
	}
	return j
}

// parseTree builds the block structure from an expanded token stream.
func parseTree(toks []token) (*tree, error) {
	tr := &tree{}
	i := 0
	if len(toks) > 0 && (toks[0].brace == '{' || toks[0].brace == 'e') {
		n := &node{args: toks[:1], hasBlock: true, open: toks[0].pos}
		if len(toks) > 1 && !toks[1].first {
			return nil, errorf(toks[1].pos, "unexpected %q: the global options block's '{' must be alone on its line", toks[1].text)
		}
		tr.global, i = n, 1
		if toks[0].brace == '{' {
			body, next, err := parseBlock(toks, 1, toks[0])
			if err != nil {
				return nil, err
			}
			n.block, i = body, next
		}
	}
	for i < len(toks) {
		t := toks[i]
		switch t.brace {
		case '{', 'e':
			return nil, errorAt(t.pos, "block without a site address (only the first block, the global options, may have none)")
		case '}':
			return nil, errorAt(t.pos, "unexpected '}'")
		}
		var keys []token
		open := -1
		j := i
		for j < len(toks) {
			end := lineEnd(toks, j)
			line := toks[j:end]
			for k, lt := range line {
				if lt.brace == 0 {
					continue
				}
				if k == len(line)-1 && lt.brace != '}' && k > 0 {
					open = j + k
					break
				}
				return nil, errorf(lt.pos, "unexpected %q among site addresses", lt.text)
			}
			if open >= 0 {
				keys = append(keys, line[:len(line)-1]...)
				j = end
				break
			}
			keys = append(keys, line...)
			j = end
			if !strings.HasSuffix(line[len(line)-1].text, ",") || j >= len(toks) {
				break
			}
		}
		if open < 0 {
			if len(tr.sites) > 0 {
				return nil, errorAt(keys[len(keys)-1].pos, "expected '{' at the end of the site address line")
			}
			// A single site may omit its braces: the rest of the file is its body.
			body, next, err := parseLines(toks, j, nil)
			if err != nil {
				return nil, err
			}
			tr.sites = append(tr.sites, siteNode{keys: keys, body: body})
			i = next
			continue
		}
		if toks[open].brace == 'e' {
			tr.sites = append(tr.sites, siteNode{keys: keys})
			i = j
			continue
		}
		body, next, err := parseBlock(toks, j, toks[open])
		if err != nil {
			return nil, err
		}
		tr.sites = append(tr.sites, siteNode{keys: keys, body: body})
		i = next
	}
	return tr, nil
}

// parseBlock parses lines from toks[i] to the '}' closing open and returns
// the index after it.
func parseBlock(toks []token, i int, open token) ([]*node, int, error) {
	return parseLines(toks, i, &open)
}

// parseLines parses directive lines from toks[i]. With open set it stops
// after the matching '}'; without, at the end of the tokens.
func parseLines(toks []token, i int, open *token) ([]*node, int, error) {
	var nodes []*node
	for i < len(toks) {
		t := toks[i]
		end := lineEnd(toks, i)
		if t.brace == '}' {
			if open == nil {
				return nil, 0, errorAt(t.pos, "unexpected '}'")
			}
			if end > i+1 {
				return nil, 0, errorf(toks[i+1].pos, "unexpected %q after '}': a closing brace must be alone on its line", toks[i+1].text)
			}
			return nodes, end, nil
		}
		if t.brace == '{' || t.brace == 'e' {
			return nil, 0, errorAt(t.pos, "a block's '{' must end the line of the directive it belongs to")
		}
		line := toks[i:end]
		n := &node{args: line}
		for k, lt := range line {
			if lt.brace == 0 || lt.brace == 'e' && k < len(line)-1 {
				continue
			}
			if k < len(line)-1 || lt.brace == '}' {
				if lt.brace == '}' {
					return nil, 0, errorAt(lt.pos, "'}' must be alone on its line")
				}
				return nil, 0, errorf(line[k+1].pos, "unexpected %q after '{': a block's '{' must end its line", line[k+1].text)
			}
			n.args = line[:k]
			n.hasBlock = true
			n.open = lt.pos
		}
		i = end
		if n.hasBlock && line[len(line)-1].brace == '{' {
			body, next, err := parseBlock(toks, i, line[len(line)-1])
			if err != nil {
				return nil, 0, err
			}
			n.block = body
			i = next
		}
		nodes = append(nodes, n)
	}
	if open != nil {
		return nil, 0, errorAt(open.pos, "'{' is never closed")
	}
	return nodes, i, nil
}

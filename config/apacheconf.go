package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// This file reads Apache httpd's own configuration as httpd 2.4 does:
// lines (a trailing backslash continues one), '#' comments at the start of
// a line, words split at blanks with "double" and 'single' quoted words,
// <Section args> containers, ${NAME} from Define or the environment,
// Include and IncludeOptional with wildcards relative to ServerRoot, and
// the conditional sections (<IfModule>, <IfDefine>, <IfVersion>,
// <IfFile>, <IfDirective>, <IfSection>) evaluated as httpd evaluates them
// while it reads (after the LoadModule and Define lines above them).
// apache.go turns the result into Tether sites.

// apDirective is one httpd directive, or a container section with the
// directives inside it.
type apDirective struct {
	name    string // as written ("JkMount", "VirtualHost" for <VirtualHost>)
	args    []apArg
	pos     Pos // the directive's first byte
	section bool
	body    []*apDirective
}

// apArg is one argument, unquoted, with ${NAME} replaced.
type apArg struct {
	text string
	pos  Pos
}

// is reports whether d is the directive or section named name (httpd
// compares names case-insensitively).
func (d *apDirective) is(name string) bool { return strings.EqualFold(d.name, name) }

// argTexts returns d's arguments' texts.
func (d *apDirective) argTexts() []string {
	out := make([]string, len(d.args))
	for i, a := range d.args {
		out[i] = a.text
	}
	return out
}

// apVersion is the httpd version <IfVersion> is evaluated against: the
// 2.4 of Debian 12, which the lab's Apache runs.
var apVersion = [3]int{2, 4, 71}

// apMaxIncludeDepth is httpd's AP_MAX_INCLUDE_DEPTH.
const apMaxIncludeDepth = 128

// apMaxLines bounds the lines read over all included files, against a
// configuration that includes itself through wildcards.
const apMaxLines = 1 << 20

// apStaticModules are the modules Debian's apache2 has built in: they are
// loaded without a LoadModule line.
var apStaticModules = []string{"core", "so", "watchdog", "http", "log_config", "logio", "version", "unixd"}

// apReader reads one httpd configuration with its includes.
type apReader struct {
	opts       ParseOptions
	serverRoot string
	defines    map[string]string // Define NAME [VALUE]; a bare Define is ""
	modules    map[string]bool   // loaded modules by identifier ("jk_module") and source ("mod_jk.c")
	loadSeen   bool              // a LoadModule line was read
	fragment   bool              // <IfModule> read as if its module were loaded (no LoadModule yet)
	includes   []string          // the include stack, for cycles
	lines      int
	warns      []Warning
	warned     map[string]bool
}

func (r *apReader) warn(at Pos, format string, args ...any) {
	w := Warning{Pos: at, Msg: fmt.Sprintf(format, args...)}
	if k := w.String(); !r.warned[k] {
		r.warned[k] = true
		r.warns = append(r.warns, w)
	}
}

// readApache reads the httpd configuration file and its includes. root is
// the ServerRoot to start with ("" for the directory of file; a ServerRoot
// line changes it for what follows, as in httpd). defines are -D names.
func readApache(opts ParseOptions, file, root string, defines []string) ([]*apDirective, *apReader, error) {
	r := &apReader{opts: opts.withDefaults(), defines: map[string]string{}, modules: map[string]bool{}, warned: map[string]bool{}}
	if root == "" {
		root = filepath.Dir(file)
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	r.serverRoot = root
	for _, d := range defines {
		r.defines[d] = ""
	}
	for _, m := range apStaticModules {
		r.modules[m+"_module"] = true
		r.modules["mod_"+m+".c"] = true
	}
	r.modules["core.c"], r.modules["http_core.c"] = true, true
	src, err := r.opts.ReadFile(file)
	if err != nil {
		return nil, r, fmt.Errorf("read %s: %w", file, err)
	}
	if abs, err := filepath.Abs(file); err == nil {
		r.includes = []string{abs}
	}
	ds, err := r.parse(file, src)
	return ds, r, err
}

// apLine is one logical line: continuation lines joined.
type apLine struct {
	text string
	pos  Pos // its first non-blank byte
}

// apLines splits src into logical lines as ap_cfg_getline does: a line
// ending in a backslash continues on the next; blanks around a line are
// dropped; empty lines and comments (a '#' first) are skipped.
func apLines(file string, src []byte) []apLine {
	var out []apLine
	var cur strings.Builder
	start := Pos{}
	n := 0
	for rest := string(src); rest != ""; {
		n++
		var l string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			l, rest = rest, ""
		}
		l = strings.TrimRight(l, " \t\r\f\v")
		if cur.Len() == 0 {
			trimmed := strings.TrimLeft(l, " \t\f\v")
			start = Pos{File: file, Line: n, Col: len(l) - len(trimmed) + 1}
			l = trimmed
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(l[:len(l)-1])
			if rest != "" {
				continue
			}
			l = ""
		}
		cur.WriteString(l)
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" || text[0] == '#' {
			continue
		}
		out = append(out, apLine{text: text, pos: start})
	}
	return out
}

// apWords splits a line into words as ap_getword_conf does: blanks
// separate words; a word that starts with a double or single quote runs
// to the matching quote, inside which a backslash escapes that quote.
// Each word's column is counted from the start of line.
func apWords(line string, at Pos) []apArg {
	var out []apArg
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			return out
		}
		p := at
		p.Col += i
		if q := line[i]; q == '"' || q == '\'' {
			var b strings.Builder
			j := i + 1
			for j < len(line) && line[j] != q {
				if line[j] == '\\' && j+1 < len(line) && (line[j+1] == q || line[j+1] == '\\') {
					j++
				}
				b.WriteByte(line[j])
				j++
			}
			out = append(out, apArg{text: b.String(), pos: p})
			i = j + 1
			continue
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		out = append(out, apArg{text: line[i:j], pos: p})
		i = j
	}
}

var apVarRe = regexp.MustCompile(`\$\{([A-Za-z0-9_.:-]+)\}`)

// resolve replaces ${NAME} by a Define's value, else an environment
// variable (ap_resolve_env); an undefined one stays as written, with
// httpd's warning.
func (r *apReader) resolve(s string, at Pos) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return apVarRe.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if v, ok := r.defines[name]; ok {
			return v
		}
		if v, ok := r.opts.LookupEnv(name); ok {
			return v
		}
		r.warn(at, "${%s} is neither Defined above nor an environment variable; kept as written (httpd warns \"Config variable ${%s} is not defined\")", name, name)
		return m
	})
}

// parse reads one file's lines into directives, following includes.
func (r *apReader) parse(file string, src []byte) ([]*apDirective, error) {
	lines := apLines(file, src)
	r.lines += len(lines)
	if r.lines > apMaxLines {
		return nil, errorf(Pos{File: file, Line: 1, Col: 1}, "httpd configuration: more than %d lines with its includes", apMaxLines)
	}
	ds, rest, err := r.block(lines, nil)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, errorf(rest[0].pos, "%s without a matching opening section", rest[0].text)
	}
	return ds, nil
}

// block reads lines up to the end of the section open (nil: the file) and
// returns the directives and the lines after the section's end.
func (r *apReader) block(lines []apLine, open *apDirective) ([]*apDirective, []apLine, error) {
	var out []*apDirective
	for len(lines) > 0 {
		l := lines[0]
		lines = lines[1:]
		text := r.resolve(l.text, l.pos)
		if strings.HasPrefix(text, "</") {
			name := strings.TrimSpace(strings.TrimSuffix(text[2:], ">"))
			if open == nil {
				return nil, nil, errorf(l.pos, "</%s> without a matching <%s>", name, name)
			}
			if !strings.EqualFold(name, open.name) {
				return nil, nil, errorf(l.pos, "expected </%s> but saw </%s> (the section opens at %s)", open.name, name, open.pos)
			}
			return out, lines, nil
		}
		if strings.HasPrefix(text, "<") {
			if !strings.HasSuffix(text, ">") {
				return nil, nil, errorf(l.pos, "<%s directive missing closing '>'", strings.Fields(text[1:] + " x")[0])
			}
			words := apWords(text[1:len(text)-1], Pos{File: l.pos.File, Line: l.pos.Line, Col: l.pos.Col + 1})
			if len(words) == 0 {
				return nil, nil, errorf(l.pos, "empty section <>")
			}
			sec := &apDirective{name: words[0].text, args: words[1:], pos: l.pos, section: true}
			cond, isCond, err := r.condition(sec)
			if err != nil {
				return nil, nil, err
			}
			if isCond && !cond {
				// httpd skips a false section unread: nothing in it runs.
				if lines, err = apSkip(lines, sec); err != nil {
					return nil, nil, err
				}
				continue
			}
			body, after, err := r.block(lines, sec)
			if err != nil {
				return nil, nil, err
			}
			lines = after
			if isCond {
				out = append(out, body...)
			} else {
				sec.body = body
				out = append(out, sec)
			}
			continue
		}
		words := apWords(text, l.pos)
		if len(words) == 0 {
			continue // a line that a ${VAR} made empty
		}
		d := &apDirective{name: words[0].text, args: words[1:], pos: l.pos}
		more, err := r.directive(d)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, more...)
	}
	if open != nil {
		return nil, nil, errorf(open.pos, "<%s> is not closed (no </%s>)", open.name, open.name)
	}
	return out, nil, nil
}

// directive handles what httpd executes while it reads (Define, UnDefine,
// ServerRoot, LoadModule, Include) and returns what the configuration
// keeps.
func (r *apReader) directive(d *apDirective) ([]*apDirective, error) {
	switch {
	case d.is("Define"):
		if len(d.args) < 1 || len(d.args) > 2 {
			return nil, errorf(d.pos, "Define takes one or two arguments")
		}
		v := ""
		if len(d.args) == 2 {
			v = d.args[1].text
		}
		r.defines[d.args[0].text] = v
		return nil, nil
	case d.is("UnDefine"):
		if len(d.args) == 1 {
			delete(r.defines, d.args[0].text)
		}
		return nil, nil
	case d.is("ServerRoot"):
		if len(d.args) != 1 {
			return nil, errorf(d.pos, "ServerRoot takes one argument")
		}
		r.serverRoot = filepath.Clean(d.args[0].text)
		return []*apDirective{d}, nil
	case d.is("LoadModule"):
		if len(d.args) != 2 {
			return nil, errorf(d.pos, "LoadModule takes two arguments, a module name and the name of a shared object file to load it from")
		}
		r.loadSeen = true
		id := d.args[0].text
		r.modules[id] = true
		if name, ok := strings.CutSuffix(id, "_module"); ok {
			r.modules["mod_"+name+".c"] = true
			if mpm, ok := strings.CutPrefix(name, "mpm_"); ok {
				r.modules[mpm+".c"] = true
			}
		}
		return []*apDirective{d}, nil
	case d.is("Include"), d.is("IncludeOptional"):
		if len(d.args) != 1 {
			return nil, errorf(d.pos, "%s takes one argument", d.name)
		}
		return r.include(d)
	}
	return []*apDirective{d}, nil
}

// rootRelative is ap_server_root_relative: an absolute path as it is,
// else under ServerRoot.
func (r *apReader) rootRelative(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(r.serverRoot, p)
}

// include reads the files an Include or IncludeOptional names: a file, a
// wildcard (every match, in order), or a directory (every file in it and
// its subdirectories, in order). A missing file or a wildcard that matches
// nothing stops httpd for Include; the import warns and goes on, so that a
// configuration copied without its includes can still be read.
func (r *apReader) include(d *apDirective) ([]*apDirective, error) {
	optional := d.is("IncludeOptional")
	pattern := r.rootRelative(d.args[0].text)
	if len(r.includes) >= apMaxIncludeDepth {
		return nil, errorf(d.pos, "%s %s: includes nest deeper than %d (httpd's limit; a cycle?)", d.name, d.args[0].text, apMaxIncludeDepth)
	}
	var files []string
	if strings.ContainsAny(pattern, "*?[") {
		m, err := r.opts.Glob(pattern)
		if err != nil {
			return nil, errorf(d.args[0].pos, "%s: bad wildcard %q: %w", d.name, d.args[0].text, err)
		}
		files = m
	} else {
		files = []string{pattern}
	}
	var out []*apDirective
	read := 0
	var visit func(f string, depth int) error
	visit = func(f string, depth int) error {
		src, err := r.opts.ReadFile(f)
		if err != nil {
			// A directory: its files and subdirectories, in order.
			sub, gerr := r.opts.Glob(filepath.Join(f, "*"))
			if gerr != nil || len(sub) == 0 || depth > 8 {
				if !optional {
					r.warn(d.pos, "%s %s: cannot read %s (%v); httpd would not start without it; skipped", d.name, d.args[0].text, f, errors.Unwrap(err))
				}
				return nil
			}
			for _, s := range sub {
				if err := visit(s, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		abs := f
		if a, err := filepath.Abs(f); err == nil {
			abs = a
		}
		if slices.Contains(r.includes, abs) {
			return errorf(d.pos, "%s %s: %s includes itself", d.name, d.args[0].text, f)
		}
		r.includes = append(r.includes, abs)
		ds, err := r.parse(f, src)
		r.includes = r.includes[:len(r.includes)-1]
		if err != nil {
			return err
		}
		read++
		out = append(out, ds...)
		return nil
	}
	for _, f := range files {
		if err := visit(f, 0); err != nil {
			return nil, err
		}
	}
	if len(files) == 0 && !optional {
		r.warn(d.pos, "Include %s: no file matches; httpd would not start (\"No matches for the wildcard\"); skipped", d.args[0].text)
	}
	return out, nil
}

// apSkip returns the lines after the end of section sec, whose body is
// skipped unread.
func apSkip(lines []apLine, sec *apDirective) ([]apLine, error) {
	depth := 0
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l.text, "</"):
			if depth == 0 {
				return lines[i+1:], nil
			}
			depth--
		case strings.HasPrefix(l.text, "<"):
			depth++
		}
	}
	return nil, errorf(sec.pos, "<%s> is not closed (no </%s>)", sec.name, sec.name)
}

// condition evaluates a conditional section as httpd does while it reads;
// isCond is false for any other section.
func (r *apReader) condition(sec *apDirective) (cond, isCond bool, err error) {
	arg := ""
	if len(sec.args) > 0 {
		arg = sec.args[0].text
	}
	neg := strings.HasPrefix(arg, "!")
	name := strings.TrimPrefix(arg, "!")
	switch {
	case sec.is("IfModule"):
		if len(sec.args) != 1 {
			return false, true, errorf(sec.pos, "<IfModule> takes one argument")
		}
		if !r.loadSeen && !r.fragment {
			r.fragment = true
			r.warn(sec.pos, "no LoadModule line before this <IfModule>: the file reads like a fragment of a configuration (its modules are loaded elsewhere); <IfModule> sections are read as if their module were loaded")
		}
		cond = r.modules[name] || r.fragment && !r.loadSeen
	case sec.is("IfDefine"):
		if len(sec.args) != 1 {
			return false, true, errorf(sec.pos, "<IfDefine> takes one argument")
		}
		_, cond = r.defines[name]
	case sec.is("IfVersion"):
		ok, err := apIfVersion(sec)
		return ok, true, err
	case sec.is("IfFile"):
		_, err := r.opts.ReadFile(r.rootRelative(name))
		cond = err == nil
	case sec.is("IfDirective"), sec.is("IfSection"):
		cond = !neg
		r.warn(sec.pos, "<%s %s>: read as if this httpd knew %s (Tether cannot tell which directives it knows)", sec.name, arg, name)
	default:
		return false, false, nil
	}
	return cond != neg, true, nil
}

// apIfVersion evaluates <IfVersion [[!]op] version> against apVersion.
func apIfVersion(sec *apDirective) (bool, error) {
	args := sec.argTexts()
	op, v := "=", ""
	switch len(args) {
	case 1:
		v = args[0]
	case 2:
		op, v = args[0], args[1]
	default:
		return false, errorf(sec.pos, "<IfVersion> takes an optional operator and a version")
	}
	neg := strings.HasPrefix(op, "!")
	op = strings.TrimPrefix(op, "!")
	have := fmt.Sprintf("%d.%d.%d", apVersion[0], apVersion[1], apVersion[2])
	var ok bool
	switch {
	case op == "~" || strings.HasPrefix(v, "/") && strings.HasSuffix(v, "/") && len(v) > 1:
		re, err := regexp.Compile(strings.Trim(v, "/"))
		if err != nil {
			return false, errorf(sec.pos, "<IfVersion>: bad regular expression %q: %v", v, err)
		}
		ok = re.MatchString(have)
	default:
		want := [3]int{}
		parts := strings.Split(v, ".")
		if len(parts) > 3 {
			return false, errorf(sec.pos, "<IfVersion>: bad version %q", v)
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil {
				return false, errorf(sec.pos, "<IfVersion>: bad version %q", v)
			}
			want[i] = n
		}
		c := 0
		for i := range parts { // only the parts given are compared
			if apVersion[i] != want[i] {
				c = apVersion[i] - want[i]
				break
			}
		}
		switch op {
		case "=", "==":
			ok = c == 0
		case ">":
			ok = c > 0
		case ">=":
			ok = c >= 0
		case "<":
			ok = c < 0
		case "<=":
			ok = c <= 0
		default:
			return false, errorf(sec.pos, "<IfVersion>: unknown operator %q", op)
		}
	}
	return ok != neg, nil
}

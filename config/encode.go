package config

import (
	"slices"
	"strconv"
	"strings"
)

// Encode is a site's `encode` directive (Caddy's): compress answers the
// client accepts compressed, in the formats it lists.
type Encode struct {
	// Formats are the encodings offered, in the order of preference used
	// when the client's Accept-Encoding ranks several equally. Default:
	// zstd, then gzip.
	Formats []EncodeFormat
	// MinimumLength is the smallest answer compressed, in bytes (default
	// 512): shorter ones gain nothing.
	MinimumLength int64
	// Match is Caddy's match block: the answers worth compressing, by
	// status and header fields (Content-Type), instead of the default
	// list of compressible content types. Nil: the default.
	Match *ResponseMatcher
	Pos   Pos
}

// EncodeFormat is one encoding and its level.
type EncodeFormat struct {
	// Name is "gzip" or "zstd".
	Name string
	// Level is gzip's 1 (fastest) to 9 (smallest), or zstd's 1 (fastest)
	// to 4 (best); 0 is the default (gzip 5, zstd 2, as Caddy's).
	Level int
}

// encodeFormats are the encodings Tether can produce.
var encodeFormats = []string{"zstd", "gzip"}

// zstdLevels are zstd's level names, as Caddy spells them.
var zstdLevels = map[string]int{"fastest": 1, "default": 2, "better": 3, "best": 4}

// DefaultEncodeMinimumLength is Caddy's default minimum_length.
const DefaultEncodeMinimumLength = 512

// encode parses
//
//	encode [zstd|gzip ...] [{
//	    gzip [LEVEL]
//	    zstd [LEVEL]
//	    minimum_length N
//	    match { status CODE...; header FIELD [VALUE] }   (or on one line)
//	}]
func encode(n *node) (*Encode, error) {
	e := &Encode{MinimumLength: DefaultEncodeMinimumLength, Pos: n.args[0].pos}
	add := func(n *node, t token, level int) error {
		if !slices.Contains(encodeFormats, t.text) {
			if strings.HasPrefix(t.text, "@") || strings.HasPrefix(t.text, "/") || t.text == "*" {
				return errorf(t.pos, "encode: matchers (%s) are not supported yet: encode applies to the whole site", t.text)
			}
			return errorf(t.pos, "encode: unknown format %q (want zstd or gzip)", t.text)
		}
		for i, f := range e.Formats {
			if f.Name == t.text {
				if level != 0 {
					e.Formats[i].Level = level
				}
				return nil
			}
		}
		e.Formats = append(e.Formats, EncodeFormat{Name: t.text, Level: level})
		return nil
	}
	for i := 0; i < n.nargs(); i++ {
		if err := add(n, n.arg(i), 0); err != nil {
			return nil, err
		}
	}
	seen := map[string]Pos{}
	for _, s := range n.block {
		if err := once(seen, s); err != nil {
			return nil, err
		}
		switch name := s.name(); name {
		case "gzip", "zstd":
			if err := s.argc(0, 1); err != nil {
				return nil, err
			}
			if err := s.noBlock(); err != nil {
				return nil, err
			}
			level := 0
			if s.nargs() == 1 {
				l, err := encodeLevel(s, s.arg(0))
				if err != nil {
					return nil, err
				}
				level = l
			}
			if err := add(s, s.args[0], level); err != nil {
				return nil, err
			}
		case "minimum_length":
			if err := s.simple(1); err != nil {
				return nil, err
			}
			v, err := parseSize(s.arg(0).text)
			if err != nil {
				return nil, errorf(s.arg(0).pos, "minimum_length: %v", err)
			}
			e.MinimumLength = v
		case "match":
			m, err := responseMatcher(s)
			if err != nil {
				return nil, err
			}
			e.Match = m
		case "prefer":
			return nil, errorf(s.args[0].pos, "encode: prefer is not supported yet: the formats are preferred in the order written")
		default:
			return nil, unknown(s, "encode option", []string{"gzip", "zstd", "minimum_length", "match"}, nil, "")
		}
	}
	if len(e.Formats) == 0 {
		e.Formats = []EncodeFormat{{Name: "zstd"}, {Name: "gzip"}}
	}
	return e, nil
}

// encodeLevel is a gzip level 1..9, or a zstd level by name or 1..4.
func encodeLevel(n *node, t token) (int, error) {
	if n.name() == "zstd" {
		if l, ok := zstdLevels[t.text]; ok {
			return l, nil
		}
		if l, err := strconv.Atoi(t.text); err == nil && l >= 1 && l <= 4 {
			return l, nil
		}
		return 0, errorf(t.pos, "zstd: level %q: want fastest, default, better or best", t.text)
	}
	l, err := strconv.Atoi(t.text)
	if err != nil || l < 1 || l > 9 {
		return 0, errorf(t.pos, "gzip: level %q: want 1 (fastest) to 9 (smallest)", t.text)
	}
	return l, nil
}

package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// ParseOptions are the outside world a parse may see. The zero value uses
// the process environment and the file system.
type ParseOptions struct {
	// LookupEnv resolves {$NAME} placeholders; nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
	// ReadFile reads imported files and the certificate files of tls
	// client_auth; nil means os.ReadFile restricted to
	// regular files (an import of a device or FIFO fails instead of hanging).
	ReadFile func(name string) ([]byte, error)
	// Glob expands import patterns; nil means filepath.Glob.
	Glob func(pattern string) ([]string, error)
}

func (o ParseOptions) withDefaults() ParseOptions {
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.ReadFile == nil {
		o.ReadFile = readRegularFile
	}
	if o.Glob == nil {
		o.Glob = filepath.Glob
	}
	return o
}

// Parse parses and validates the config in src. filename names it in
// errors and positions, and imports resolve relative to its directory; ""
// stands for "Caddyfile" in the working directory. Every error about the
// config is an *Error naming file:line:col.
func (o ParseOptions) Parse(filename string, src []byte) (*Config, error) {
	if filename == "" {
		filename = "Caddyfile"
	}
	e := &expander{opts: o.withDefaults(), snippets: map[string]snippet{}}
	if abs, err := filepath.Abs(filename); err == nil {
		e.stack = []string{"file " + abs}
	}
	if err := e.file(filename, src, nil, false, Pos{}); err != nil {
		return nil, err
	}
	tr, err := parseTree(e.out)
	if err != nil {
		return nil, err
	}
	warns, err := e.expandApache(tr)
	if err != nil {
		return nil, err
	}
	cfg, err := build(tr, e.opts)
	if err != nil {
		return nil, err
	}
	if len(warns) > 0 {
		cfg.Warnings = append(warns, cfg.Warnings...)
	}
	return cfg, nil
}

// Load reads the config file at path and parses it as Parse does.
func (o ParseOptions) Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return o.Parse(path, src)
}

// Parse parses src with the default ParseOptions (process environment, real
// files). See ParseOptions.Parse.
func Parse(filename string, src []byte) (*Config, error) {
	return ParseOptions{}.Parse(filename, src)
}

// Load reads and parses the config file at path with the default
// ParseOptions. It is what "tether run -c" and "tether validate -c" call.
func Load(path string) (*Config, error) {
	return ParseOptions{}.Load(path)
}

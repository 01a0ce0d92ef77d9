package proxy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// logFiles are the access-log files of a process, shared by every config a
// reload builds: one open file per path, which the configs that log there
// hold by reference (acquire, release) and which is closed when the last
// one lets go. A reload thus opens no new descriptor for a path it keeps,
// and closes the paths it no longer logs to once the requests that began
// on the old config have written their lines (see generation).
//
// A path whose file was renamed or removed since it was opened (log
// rotation) gets a new file for the config being built, as a reload after
// logrotate expects; the configs that hold the old one keep writing to it
// until they let go.
type logFiles struct {
	mu   sync.Mutex
	open map[string]*logFile // by absolute path: the file the next acquire shares
}

// logFile is one open access-log file. Its Write is safe for concurrent
// use and writes each line in one call, so loggers sharing it never
// interleave within a line.
type logFile struct {
	path string
	mu   sync.Mutex // serializes writes
	f    *os.File
	refs int // guarded by logFiles.mu
}

var _ io.Writer = (*logFile)(nil)

func (f *logFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Write(p)
}

// acquire returns the open file for path, opening (or creating) it if no
// config holds it, or if the file at path is no longer the one held. The
// caller must release it.
func (lf *logFiles) acquire(path string) (*logFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if cur := lf.open[abs]; cur != nil && cur.stillAt(abs) {
		cur.refs++
		return cur, nil
	}
	f, err := os.OpenFile(abs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	nf := &logFile{path: abs, f: f, refs: 1}
	if lf.open == nil {
		lf.open = map[string]*logFile{}
	}
	lf.open[abs] = nf // a rotated predecessor stays open for its holders
	return nf, nil
}

// stillAt reports whether the file at path is still f's file.
func (f *logFile) stillAt(path string) bool {
	at, err := os.Stat(path)
	if err != nil {
		return false
	}
	held, err := f.f.Stat()
	return err == nil && os.SameFile(at, held)
}

// release lets go of f; the last release closes it.
func (lf *logFiles) release(f *logFile) error {
	lf.mu.Lock()
	f.refs--
	last := f.refs == 0
	if last && lf.open[f.path] == f {
		delete(lf.open, f.path)
	}
	lf.mu.Unlock()
	if !last {
		return nil
	}
	if err := f.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("close access log %s: %w", f.path, err)
	}
	return nil
}

// lockedWriter serializes the lines of every access logger that writes to
// one process stream (stdout, stderr).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var (
	stdoutLog = &lockedWriter{w: os.Stdout}
	stderrLog = &lockedWriter{w: os.Stderr}
)

package membership

import (
	"bytes"
	"log"
	"sync"

	"github.com/rs/zerolog"
)

// logBridge is the io.Writer behind memberlist's *log.Logger: each line
// ("[WARN] memberlist: ...") becomes one zerolog event at the matching level,
// with component=memberlist. memberlist's text is kept as the message since it
// is foreign and already formatted; the level and fields are ours.
//
// memberlist's Shutdown does not wait for its goroutines, which may still
// log for a moment; close makes the bridge drop those lines, so nothing is
// written to the caller's sink after Run has returned.
type logBridge struct {
	log zerolog.Logger
	// mu guards closed; Write holds it shared while writing.
	mu     *sync.RWMutex
	closed *bool
}

// newStdLogger returns a *log.Logger for memberlist that writes through a
// logBridge, and the bridge's close function. The logger has no prefix and
// no flags: zerolog adds the time.
func newStdLogger(l zerolog.Logger) (*log.Logger, func()) {
	b := logBridge{log: l.With().Str("component", "memberlist").Logger(), mu: new(sync.RWMutex), closed: new(bool)}
	return log.New(b, "", 0), func() {
		b.mu.Lock()
		*b.closed = true
		b.mu.Unlock()
	}
}

var levelTags = []struct {
	tag   string
	level zerolog.Level
}{
	{"[DEBUG]", zerolog.DebugLevel},
	{"[INFO]", zerolog.InfoLevel},
	{"[WARN]", zerolog.WarnLevel},
	{"[ERR]", zerolog.ErrorLevel},
	{"[ERROR]", zerolog.ErrorLevel},
}

// Write logs p, one line per call as log.Logger guarantees. Lines without a
// level tag are logged at info, and errors on a connection this process
// closed at debug. It never fails, so memberlist never sees a
// logging error.
func (b logBridge) Write(p []byte) (int, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if *b.closed {
		return len(p), nil
	}
	line := bytes.TrimSpace(p)
	level := zerolog.InfoLevel
	for _, t := range levelTags {
		if rest, ok := bytes.CutPrefix(line, []byte(t.tag)); ok {
			level, line = t.level, bytes.TrimSpace(rest)
			break
		}
	}
	// A write on a closed connection is memberlist answering a packet
	// while Shutdown closes its transport: only this process closes its
	// sockets, so it is the stop, not a fault to act on.
	if level > zerolog.DebugLevel && bytes.Contains(line, []byte("use of closed network connection")) {
		level = zerolog.DebugLevel
	}
	if e := b.log.WithLevel(level); e != nil {
		line = bytes.TrimPrefix(line, []byte("memberlist: "))
		e.Msg(string(line))
	}
	return len(p), nil
}

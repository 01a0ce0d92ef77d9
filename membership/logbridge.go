package membership

import (
	"bytes"
	"log"

	"github.com/rs/zerolog"
)

// logBridge is the io.Writer behind memberlist's *log.Logger: each line
// ("[WARN] memberlist: ...") becomes one zerolog event at the matching level,
// with component=memberlist. memberlist's text is kept as the message since it
// is foreign and already formatted; the level and fields are ours.
type logBridge struct{ log zerolog.Logger }

// newStdLogger returns a *log.Logger for memberlist that writes through
// logBridge. It has no prefix and no flags: zerolog adds the time.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(logBridge{log: l.With().Str("component", "memberlist").Logger()}, "", 0)
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
// level tag are logged at info. It never fails, so memberlist never sees a
// logging error.
func (b logBridge) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := zerolog.InfoLevel
	for _, t := range levelTags {
		if rest, ok := bytes.CutPrefix(line, []byte(t.tag)); ok {
			level, line = t.level, bytes.TrimSpace(rest)
			break
		}
	}
	if e := b.log.WithLevel(level); e != nil {
		line = bytes.TrimPrefix(line, []byte("memberlist: "))
		e.Msg(string(line))
	}
	return len(p), nil
}

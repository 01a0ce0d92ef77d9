package certs

import (
	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger bridges certmagic's *zap.Logger into zerolog, so the process
// has one log sink. zap's named loggers become the "logger" field; fields
// keep their keys.
func newZapLogger(l zerolog.Logger) *zap.Logger {
	return zap.New(zapCore{l: l})
}

// zapCore is a zapcore.Core that forwards every entry to zerolog at the
// matching level (zap's DPanic, Panic and Fatal become Error: a library
// never ends the process).
type zapCore struct {
	l      zerolog.Logger
	fields []zapcore.Field
}

var _ zapcore.Core = zapCore{}

func (c zapCore) Enabled(lvl zapcore.Level) bool {
	return c.l.GetLevel() <= zerologLevel(lvl) && c.l.GetLevel() != zerolog.Disabled
}

func (c zapCore) With(fs []zapcore.Field) zapcore.Core {
	return zapCore{l: c.l, fields: append(c.fields[:len(c.fields):len(c.fields)], fs...)}
}

func (c zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c zapCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	ev := c.l.WithLevel(zerologLevel(e.Level))
	if ev == nil {
		return nil
	}
	if e.LoggerName != "" {
		ev = ev.Str("logger", e.LoggerName)
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	ev.Fields(enc.Fields).Msg(e.Message)
	return nil
}

func (c zapCore) Sync() error { return nil }

func zerologLevel(l zapcore.Level) zerolog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return zerolog.DebugLevel
	case l == zapcore.InfoLevel:
		return zerolog.InfoLevel
	case l == zapcore.WarnLevel:
		return zerolog.WarnLevel
	default:
		return zerolog.ErrorLevel
	}
}

package config

import "fmt"

// Error is a configuration error at a position in a config file. Every error
// Parse and Load return for a bad configuration is an *Error; read it with
// errors.AsType[*config.Error].
type Error struct {
	Pos Pos
	Msg string
}

// Error formats e as "file:line:col: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorAt(p Pos, msg string) *Error { return &Error{Pos: p, Msg: msg} }

func errorf(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

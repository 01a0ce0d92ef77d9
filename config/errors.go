package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a configuration error at a position in a config file. Every error
// Parse and Load return for a bad configuration is an *Error; read it with
// errors.AsType[*config.Error].
type Error struct {
	Pos Pos
	Msg string
	// Err is the cause, when the error comes from another one (a file
	// that cannot be read, a value that does not parse); nil otherwise.
	Err error
}

// Error formats e as "file:line:col: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorAt(p Pos, msg string) *Error { return &Error{Pos: p, Msg: msg} }

// Unwrap returns the cause, so errors.Is(err, fs.ErrNotExist) and the like
// see through the position.
func (e *Error) Unwrap() error { return e.Err }

// errorf is an Error at p; a %w verb in format keeps that argument as the
// cause.
func errorf(p Pos, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Pos: p, Msg: err.Error()}
	if errors.Unwrap(err) != nil || strings.Contains(format, "%w") {
		e.Err = err
	}
	return e
}

package proxy

import (
	"bytes"
	"log"

	"github.com/rs/zerolog"
)

// newStdLogger adapts zerolog for the *log.Logger that net/http and
// httputil write their own errors to (TLS handshake errors, panics).
func newStdLogger(l zerolog.Logger, component string) *log.Logger {
	return log.New(stdWriter{l: l.With().Str("component", component).Logger()}, "", 0)
}

type stdWriter struct{ l zerolog.Logger }

func (w stdWriter) Write(p []byte) (int, error) {
	w.l.Warn().Str("detail", string(bytes.TrimSpace(p))).Msg("library error")
	return len(p), nil
}

package membership

import (
	"fmt"

	"github.com/aws/smithy-go/logging"
	"github.com/rs/zerolog"
)

// sdkLogger bridges the AWS SDK's logger to zerolog, so the SDK never writes
// to stderr (LoadDefaultConfig's default): its warnings become warn events,
// everything else debug, with component=aws-sdk. The SDK's text is kept as
// the message since it is foreign and already formatted.
type sdkLogger struct{ log zerolog.Logger }

var _ logging.Logger = sdkLogger{}

func newSDKLogger(l zerolog.Logger) sdkLogger {
	return sdkLogger{log: l.With().Str("component", "aws-sdk").Logger()}
}

// Logf logs one SDK message.
func (s sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := zerolog.DebugLevel
	if c == logging.Warn {
		level = zerolog.WarnLevel
	}
	if e := s.log.WithLevel(level); e != nil {
		e.Msg(fmt.Sprintf(format, v...))
	}
}

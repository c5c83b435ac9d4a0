package cli

import (
	"fmt"
	"io"
	"log/slog"
)

// Logger is the text logger at level (debug, info, warn or error, as
// --log-level names it) that both binaries write to w.
func Logger(w io.Writer, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

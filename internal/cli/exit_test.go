package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestExitPrintsTheErrorAndReturnsItsCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		out  string
	}{
		{"success", nil, 0, ""},
		{"plain error", errors.New("no such file"), 1, "etcdboot: no such file\n"},
		{"quiet exit code", &ExitError{Code: 2}, 2, ""},
		{"exit code with message", &ExitError{Code: 3, Err: errors.New("bad")}, 3, "etcdboot: bad\n"},
		{"wrapped exit code", fmt.Errorf("status: %w", &ExitError{Code: 2, Err: errors.New("down")}), 2, "etcdboot: status: down\n"},
	} {
		var b strings.Builder
		if code := Exit(&b, "etcdboot", tc.err); code != tc.code || b.String() != tc.out {
			t.Errorf("%s: code %d, printed %q; want %d, %q", tc.name, code, b.String(), tc.code, tc.out)
		}
	}
}

func TestLoggerLogsAtItsLevelAndRefusesUnknownLevels(t *testing.T) {
	var b strings.Builder
	log, err := Logger(&b, "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("quiet")
	log.Warn("loud", "k", "v")
	if out := b.String(); strings.Contains(out, "quiet") || !strings.Contains(out, "level=WARN msg=loud k=v") {
		t.Errorf("logged:\n%s", out)
	}
	if _, err := Logger(&b, "chatty"); err == nil || !strings.Contains(err.Error(), `--log-level "chatty"`) {
		t.Errorf("unknown level: %v", err)
	}
}

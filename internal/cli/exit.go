package cli

import (
	"errors"
	"fmt"
	"io"
)

// ExitError ends a command with Code. Err, when set, is printed; without it
// the command has said all there is to say (an unhealthy status table, a
// failed audit) and exits quietly.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit prints err as "name: err" to w and returns the process's exit code:
// 0 for nil, an ExitError's Code, 1 for any other error.
func Exit(w io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	code := 1
	var ee *ExitError
	if errors.As(err, &ee) {
		code = ee.Code
		if ee.Err == nil {
			return code
		}
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
	return code
}

package netlab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// commandTimeout bounds every ip/nft invocation; they take milliseconds.
const commandTimeout = 30 * time.Second

// command runs a short administrative command (ip, nft) with stdin, returning
// its combined output. The error names the command and carries its output.
func command(ctx context.Context, stdin string, argv ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// ip runs `ip args...`.
func ip(ctx context.Context, args ...string) ([]byte, error) {
	return command(ctx, "", append([]string{"ip"}, args...)...)
}

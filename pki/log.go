package pki

import (
	"log/slog"

	cflog "github.com/cloudflare/cfssl/log"
)

// cfssl logs every key and signature at info level through the standard
// logger; etcdboot is quiet by default, so its chatter goes to slog at debug
// level (warnings stay warnings) and follows the process's --log-level.
func init() {
	cflog.SetLogger(cfsslLog{})
}

// cfsslLog adapts cfssl's syslog-style logger interface to log/slog.
type cfsslLog struct{}

func (cfsslLog) Debug(msg string)   { slog.Debug(msg, "component", "cfssl") }
func (cfsslLog) Info(msg string)    { slog.Debug(msg, "component", "cfssl") }
func (cfsslLog) Warning(msg string) { slog.Warn(msg, "component", "cfssl") }

// Errors cfssl logs are also returned to us and wrapped with context there.
func (cfsslLog) Err(msg string)   { slog.Debug(msg, "component", "cfssl", "cfssl_level", "error") }
func (cfsslLog) Crit(msg string)  { slog.Error(msg, "component", "cfssl") }
func (cfsslLog) Emerg(msg string) { slog.Error(msg, "component", "cfssl") }

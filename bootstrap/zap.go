package bootstrap

import "go.uber.org/zap"

// nopZap silences etcd's client logger; the agent logs through slog.
func nopZap() *zap.Logger { return zap.NewNop() }

package bootstrap

import (
	"context"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/bootstrap/maintenance"
)

// AlarmPollInterval is how often the watcher asks its member for the
// cluster's alarms.
const AlarmPollInterval = 5 * time.Second

// healRetryAfter is how long the watcher waits after a heal that failed
// (the data itself fills the quota, a member stopped answering) before it
// compacts and defragments again.
const healRetryAfter = 2 * time.Minute

// watchAlarms exports the cluster's alarms every AlarmPollInterval until
// ctx ends and, with a maintenance section, heals a NOSPACE alarm as soon
// as it is raised: it runs a maintenance round that only heals, which
// proceeds on one agent only (the lock holder, or under NOSPACE, which
// refuses the lock, the healer every agent agrees on).
func (a *Agent) watchAlarms(ctx context.Context, n node, cli *clientv3.Client) {
	var retryAt time.Time
	tick := time.NewTicker(AlarmPollInterval)
	defer tick.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, AlarmPollInterval)
		resp, err := cli.AlarmList(actx)
		cancel()
		switch {
		case err != nil:
			a.log.Debug("watch: alarms not readable now", "err", err)
		default:
			var raised []string
			noSpace := false
			for _, al := range resp.Alarms {
				raised = append(raised, al.Alarm.String())
				noSpace = noSpace || al.Alarm.String() == maintenance.AlarmNoSpace
			}
			if a.maintenanceMetrics != nil {
				a.maintenanceMetrics.SetAlarms(raised)
			}
			if noSpace && n.payload.Maintenance != nil && !a.cfg.Now().Before(retryAt) {
				if !a.healNoSpace(ctx, n) {
					retryAt = a.cfg.Now().Add(healRetryAfter)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// healNoSpace runs a heal-only maintenance round through this member and
// reports whether it did not fail.
func (a *Agent) healNoSpace(ctx context.Context, n node) bool {
	r, err := maintenance.RunRound(ctx, maintenance.Options{PayloadPath: a.cfg.PayloadPath, Root: a.cfg.Root, StateDir: a.cfg.StateDir,
		Endpoint: n.clientURL(), Trigger: maintenance.TriggerAlarm, Logger: a.log})
	switch {
	case errors.Is(err, maintenance.ErrRoundRunning):
		return true // the timer's round, or one by hand, is at it
	case err != nil:
		a.log.Warn("watch: NOSPACE not healed", "err", err, "retryIn", healRetryAfter)
		return false
	case r.Result == maintenance.ResultOK:
		a.log.Info("watch: NOSPACE healed", "compacted", r.Compacted, "reclaimed", r.Reclaimed, "took", r.Duration())
	}
	return true
}

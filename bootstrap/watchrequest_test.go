package bootstrap

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/internal/backupstore"
)

func TestDecideRequest(t *testing.T) {
	req := &backupstore.RecoveryRequest{Cluster: "c", Backup: "c-20261205T000000Z", Nonce: "n1"}
	tests := []struct {
		name string
		seen requestSeen
		want requestVerdict
	}{
		{"no request", requestSeen{NoQuorumFor: time.Hour}, requestNothing},
		{"already acted on", requestSeen{Request: req, Applied: "n1", NoQuorumFor: time.Hour}, requestNothing},
		{"quorum answers", requestSeen{Request: req}, requestIgnore},
		{"quorum answers, said once", requestSeen{Request: req, Ignored: "n1"}, requestNothing},
		{"reads failing briefly (an election)", requestSeen{Request: req, NoQuorumFor: RequestGrace - time.Second}, requestIgnore},
		{"no quorum for the grace", requestSeen{Request: req, NoQuorumFor: RequestGrace}, requestAct},
		{"no quorum, ignored while it answered", requestSeen{Request: req, NoQuorumFor: time.Minute, Ignored: "n1"}, requestAct},
		{"removed while cut off", requestSeen{Removed: true, NoQuorumFor: RequestGrace}, requestRejoin},
		{"removed, a request too", requestSeen{Request: req, Removed: true, NoQuorumFor: time.Minute}, requestRejoin},
		{"no quorum, an older request acted on", requestSeen{Request: req, Applied: "n0", NoQuorumFor: time.Minute}, requestAct},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decideRequest(tt.seen); got != tt.want {
				t.Errorf("decideRequest(%+v) = %d, want %d", tt.seen, got, tt.want)
			}
		})
	}
}

func TestRunAgain(t *testing.T) {
	gate := gateError{errors.New("member not ready")}
	tests := []struct {
		name      string
		err       error
		failures  int
		handed    bool
		want      bool
		wantAfter int
	}{
		{"ended by a signal", nil, 0, false, false, 0},
		{"a step failed", errors.New("payload: bad"), 0, false, false, 0},
		{"recovery request", fmt.Errorf("recovery request n1: %w", errRecoveryRequested), 2, false, true, 0},
		{"etcd exited after ready ends Up", fmt.Errorf("%w (exit status 1)", errEtcdExited), 1, false, false, 1},
		{"etcd exited, the group removed this member", fmt.Errorf("%w: %w", fmt.Errorf("%w (exit status 1)", errEtcdExited), errRecoveryRequested), 1, false, true, 0},
		{"etcd removed, but a newer up took over", fmt.Errorf("%w: %w", fmt.Errorf("%w (exit status 1)", errEtcdExited), errRecoveryRequested), 0, true, false, 0},
		{"etcd stopped by leave", fmt.Errorf("%w (signal: terminated)", errEtcdExited), 0, true, false, 0},
		{"first failed gate", fmt.Errorf("healthy: %w", gate), 0, false, true, 1},
		{"second failed gate", fmt.Errorf("healthy: %w", gate), 1, false, true, 2},
		{"third failed gate ends it", fmt.Errorf("healthy: %w", gate), maxGateReruns, false, false, maxGateReruns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, after := runAgain(tt.err, tt.failures, tt.handed)
			if got != tt.want || after != tt.wantAfter {
				t.Errorf("runAgain(%v, %d, %v) = %v, %d; want %v, %d", tt.err, tt.failures, tt.handed, got, after, tt.want, tt.wantAfter)
			}
		})
	}
}

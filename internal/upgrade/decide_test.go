package upgrade

import (
	"strings"
	"testing"
)

func v(s string) Version { return MustParse(s) }

// healthy3 is a cluster of three healthy voters at one version.
func healthy3(server string) *Cluster {
	c := &Cluster{Version: v(server)}
	c.Version.Patch = 0
	for _, n := range []string{"etcd1", "etcd2", "etcd3"} {
		c.Members = append(c.Members, Member{Name: n, Server: v(server), Healthy: true})
	}
	return c
}

// selfDown marks etcd1 (the deciding member) as stopped: it is the one
// restarting onto the new binary.
func selfDown(c *Cluster) *Cluster {
	c.Members[0].Server, c.Members[0].Healthy = Version{}, false
	return c
}

// running is o with this member's etcd still running: an upgrade would take
// it down, so the gate applies.
func running(o Observed) Observed {
	o.SelfRunning = true
	return o
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name     string
		o        Observed
		want     Action
		reason   string // a substring of Reason
		warnings int
	}{
		{name: "new member, no cluster", o: Observed{Binary: v("3.6.16")}, want: ActionStart, reason: "a new member"},
		{name: "restart on the same version", o: Observed{Binary: v("3.6.16"), Data: v("3.6.0"), LastRun: v("3.6.16"), Cluster: healthy3("3.6.16"), Self: "etcd1"}, want: ActionStart},
		{name: "restart, last run unknown, same minor", o: Observed{Binary: v("3.6.16"), Data: v("3.6.0")}, want: ActionStart},
		{name: "payload differs from the image: warn, the binary runs", o: Observed{Binary: v("3.6.16"), Payload: v("3.7.3"), Data: v("3.6.0")}, want: ActionStart, warnings: 1},
		{name: "in place 3.5 -> 3.6, gate open", o: Observed{Binary: v("3.6.16"), Data: v("3.5.0"), LastRun: v("3.5.27"), Cluster: selfDown(healthy3("3.5.27")), Self: "etcd1"}, want: ActionUpgrade, reason: "3.5.27 -> 3.6.16"},
		{name: "in place 3.6 -> 3.7", o: Observed{Binary: v("3.7.3"), Data: v("3.6.0"), Cluster: selfDown(healthy3("3.6.16")), Self: "etcd1"}, want: ActionUpgrade, reason: "3.6 -> 3.7.3"},
		{name: "patch upgrade is an upgrade too", o: Observed{Binary: v("3.6.16"), Data: v("3.6.0"), LastRun: v("3.6.15"), Cluster: selfDown(healthy3("3.6.15")), Self: "etcd1"}, want: ActionUpgrade},
		{name: "upgrade with nobody answering starts", o: Observed{Binary: v("3.7.3"), Data: v("3.6.0")}, want: ActionStart, reason: "no member answering"},
		{name: "upgrade waits for an unhealthy voter", o: running(Observed{Binary: v("3.7.3"), Data: v("3.6.0"), Cluster: func() *Cluster { c := selfDown(healthy3("3.6.16")); c.Members[2].Healthy = false; return c }(), Self: "etcd1"}), want: ActionWait, reason: "etcd3 not healthy"},
		{name: "upgrade waits for an alarm", o: running(Observed{Binary: v("3.7.3"), Data: v("3.6.0"), Cluster: func() *Cluster { c := selfDown(healthy3("3.6.16")); c.Alarms = []string{"NOSPACE"}; return c }(), Self: "etcd1"}), want: ActionWait, reason: "NOSPACE"},
		{name: "upgrade waits for a pending learner", o: running(Observed{Binary: v("3.7.3"), Data: v("3.6.0"), Cluster: func() *Cluster {
			c := selfDown(healthy3("3.6.16"))
			c.Members = append(c.Members, Member{Name: "etcd4", Server: v("3.6.16"), Learner: true})
			return c
		}(), Self: "etcd1"}), want: ActionWait, reason: "etcd4 not yet promoted"},
		{name: "a downgrade waits until etcd lowered the running member's storage version", o: running(Observed{Binary: v("3.6.16"), Data: v("3.7.0"), Cluster: func() *Cluster {
			c := healthy3("3.7.3")
			c.Version, c.Downgrade = v("3.6.0"), v("3.6.0")
			return c
		}(), Self: "etcd1"}), want: ActionWait, reason: "storage version 3.7 to 3.6"},
		{name: "an upgrade waits until etcd raised the running member's storage version", o: running(Observed{Binary: v("3.7.3"), Data: v("3.6.0"), Storage: v("3.5.0"), LastRun: v("3.6.16"), Cluster: healthy3("3.6.16"), Self: "etcd1"}), want: ActionWait, reason: "storage version 3.5 to the cluster's 3.6"},
		{name: "a rebooted member does not wait for another voter that is down", o: Observed{Binary: v("3.7.3"), Data: v("3.6.0"), Cluster: func() *Cluster { c := selfDown(healthy3("3.6.16")); c.Members[2].Healthy = false; return c }(), Self: "etcd1"}, want: ActionUpgrade, reason: "already down"},
		{name: "a running member upgrades when the gate is open", o: running(Observed{Binary: v("3.7.3"), Data: v("3.6.0"), LastRun: v("3.6.16"), Cluster: healthy3("3.6.16"), Self: "etcd1"}), want: ActionUpgrade, reason: "one member at a time"},
		{name: "refuse: 3.7 over a WAL that replays 3.5's v2 entries", o: running(Observed{Binary: v("3.7.3"), Data: v("3.6.0"), V2Entries: 4, LastRun: v("3.6.16"), Cluster: healthy3("3.6.16"), Self: "etcd1"}), want: ActionRefuse, reason: "4 entries in etcd 3.5's v2 format"},
		{name: "3.6 over a WAL with v2 entries converts them", o: Observed{Binary: v("3.6.16"), Data: v("3.5.0"), V2Entries: 4, LastRun: v("3.5.27")}, want: ActionStart},
		{name: "refuse: v3 discovery on a 3.5 binary", o: Observed{Binary: v("3.5.27"), V3Discovery: true}, want: ActionRefuse, reason: "v3 discovery"},
		{name: "v3 discovery on 3.6 starts", o: Observed{Binary: v("3.6.16"), V3Discovery: true}, want: ActionStart},
		{name: "refuse: skip a minor over own data", o: Observed{Binary: v("3.7.3"), Data: v("3.5.0")}, want: ActionRefuse, reason: "roll an image with etcd 3.6 first"},
		{name: "refuse: downgrade over own data without the procedure", o: Observed{Binary: v("3.6.16"), Data: v("3.7.0"), Cluster: selfDown(healthy3("3.7.3")), Self: "etcd1"}, want: ActionRefuse, reason: "downgrade needs etcd's downgrade procedure"},
		{name: "downgrade enabled to the binary's minor", o: Observed{Binary: v("3.6.16"), Data: v("3.7.0"), Cluster: func() *Cluster {
			c := selfDown(healthy3("3.7.3"))
			c.Version, c.Downgrade = v("3.6.0"), v("3.6.0")
			return c
		}(), Self: "etcd1"}, want: ActionUpgrade},
		{name: "downgrade enabled to another minor is refused", o: Observed{Binary: v("3.5.27"), Data: v("3.7.0"), Cluster: func() *Cluster {
			c := selfDown(healthy3("3.7.3"))
			c.Downgrade = v("3.6.0")
			return c
		}(), Self: "etcd1"}, want: ActionRefuse},
		{name: "refuse: 3.5 older than 3.5.26 to 3.6 (last run)", o: Observed{Binary: v("3.6.16"), Data: v("3.5.0"), LastRun: v("3.5.20")}, want: ActionRefuse, reason: "safe only from 3.5.26"},
		{name: "refuse: a 3.5 member older than 3.5.26 when 3.6 joins", o: Observed{Binary: v("3.6.16"), Cluster: func() *Cluster { c := healthy3("3.5.27"); c.Members[1].Server = v("3.5.13"); return c }()}, want: ActionRefuse, reason: "etcd2 runs etcd 3.5.13"},
		{name: "joiner one minor ahead joins", o: Observed{Binary: v("3.7.3"), Cluster: healthy3("3.6.16")}, want: ActionStart},
		{name: "refuse: joiner two minors ahead", o: Observed{Binary: v("3.7.3"), Cluster: healthy3("3.5.27")}, want: ActionRefuse, reason: "2 minor versions ahead"},
		{name: "refuse: joiner older than the cluster", o: Observed{Binary: v("3.6.16"), Cluster: healthy3("3.7.3")}, want: ActionRefuse, reason: "older"},
		{name: "refuse: a member two minors away", o: Observed{Binary: v("3.7.3"), Cluster: func() *Cluster {
			c := healthy3("3.6.16")
			c.Members[2].Server = v("3.5.27")
			c.Version = v("3.6.0")
			return c
		}()}, want: ActionRefuse, reason: "etcd3 runs etcd 3.5.27"},
		{name: "refuse: unknown binary version", o: Observed{}, want: ActionRefuse, reason: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.o)
			if got.Action != tt.want {
				t.Fatalf("Decide = %s (%s), want %s", got.Action, got.Reason, tt.want)
			}
			if !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("reason %q does not say %q", got.Reason, tt.reason)
			}
			if len(got.Warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", got.Warnings, tt.warnings)
			}
			if got.Action == ActionRefuse && !strings.Contains(got.Reason, tt.o.Binary.String()) && !tt.o.Binary.IsZero() {
				t.Errorf("a refusal must name the binary's version %s: %q", tt.o.Binary, got.Reason)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{
		"3.6.16": {3, 6, 16}, "v3.5.27": {3, 5, 27}, "3.6": {3, 6, 0}, "3.7.0-alpha.0": {3, 7, 0}, " 3.6.0\n": {3, 6, 0},
	} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "3", "three.six", "3.6.x", "3.6.1.2", "-3.6.0"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

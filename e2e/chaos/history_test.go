package chaos

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// event is one change of a workload key in etcd's revision history.
type event struct {
	Key      string `json:"key"`
	Delete   bool   `json:"delete,omitempty"`
	Value    string `json:"value,omitempty"`
	Revision int64  `json:"revision"`
}

// sentinelKey is written after the workload: the history is complete once
// a watch from revision 1 has delivered it.
const sentinelKey = keyPrefix + "~end"

// revisionHistory reads every change of the workload's keys from etcd's
// own history (the group never compacts) through a watch from revision 1,
// up to a sentinel written after the clients stopped.
func revisionHistory(ctx context.Context, cli *clientv3.Client) ([]event, error) {
	resp, err := cli.Put(ctx, sentinelKey, "end")
	if err != nil {
		return nil, fmt.Errorf("write the sentinel: %w", err)
	}
	end := resp.Header.Revision
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var events []event
	for wr := range cli.Watch(wctx, keyPrefix, clientv3.WithPrefix(), clientv3.WithRev(1)) {
		if err := wr.Err(); err != nil {
			return nil, fmt.Errorf("watch the history from revision 1: %w", err)
		}
		for _, ev := range wr.Events {
			if ev.Kv.ModRevision >= end {
				return events, nil
			}
			events = append(events, event{Key: string(ev.Kv.Key), Delete: ev.Type == mvccpb.DELETE, Value: string(ev.Kv.Value), Revision: ev.Kv.ModRevision})
		}
	}
	return nil, fmt.Errorf("watch of the history ended before revision %d: %w", end, ctx.Err())
}

// resolved is the history ready for the checker, and what resolving found.
type resolved struct {
	ops []porcupine.Operation
	// appliedUnacked and lostUnacked count the writes that failed or timed
	// out which the revision history shows applied, and not applied.
	appliedUnacked, lostUnacked int
	// maybeDeletes are deletes of unknown result, left open.
	maybeDeletes int
}

// resolve turns the calls into porcupine's operations. Calls that were
// not answered tell nothing: failed gets are left out. A put or a
// compare-and-swap that failed or timed out is settled by the revision
// history, since every value is written once: applied when its value is
// there (returning at the end of time), left out when not (a write with no
// effect and no answer constrains nothing). A delete leaves no value, so
// one of unknown result stays open: applied or not, returning at the end
// of time, as etcd's robustness tests treat every failed write.
func resolve(calls []Op, events []event) resolved {
	applied := map[string]bool{}
	for _, ev := range events {
		if !ev.Delete {
			applied[ev.Value] = true
		}
	}
	var r resolved
	var last time.Duration
	for _, c := range calls {
		if c.Result == ResultOK {
			last = max(last, c.Return)
		} else {
			last = max(last, c.Call)
		}
	}
	infinity := int64(last + time.Second)
	stream := 0
	for _, c := range calls {
		in := kvInput{Op: c.Kind, Key: c.Key, Value: c.Value, Expect: c.Expect}
		out := kvOutput{Found: c.Found, Value: c.Got, Deleted: c.Deleted, Succeeded: c.Succeeded}
		ret := int64(c.Return)
		if c.Result != ResultOK {
			switch c.Kind {
			case OpGet:
				continue
			case OpPut, OpCAS:
				if !applied[c.Value] {
					r.lostUnacked++
					continue
				}
				r.appliedUnacked++
				out.Succeeded = true
			case OpDelete:
				in.Maybe = true
				r.maybeDeletes++
			}
			ret = infinity
		}
		// Operations of one stream must not overlap in the visualization:
		// a call returning at the end of time gets a stream of its own.
		id := c.Client
		if ret == infinity {
			id = 1000 + stream
			stream++
		}
		r.ops = append(r.ops, porcupine.Operation{ClientId: id, Input: in, Call: int64(c.Call), Output: out, Return: ret})
	}
	return r
}

// checkDurability checks the calls against etcd's revision history: every
// acknowledged write is in it, at the revision its response named; every
// change in it was made by a call, each value once; and every member now
// serves each key's newest value (final), so a write is readable unless a
// later one replaced it. It returns every violation.
func checkDurability(calls []Op, events []event, final map[string]map[string]string) []string {
	var bad []string
	at := map[int64]event{}
	byValue := map[string][]event{}
	latest := map[string]event{}
	deletes := map[string]int{}
	for _, ev := range events {
		at[ev.Revision] = ev
		if ev.Delete {
			deletes[ev.Key]++
		} else {
			byValue[ev.Value] = append(byValue[ev.Value], ev)
		}
		if ev.Revision > latest[ev.Key].Revision {
			latest[ev.Key] = ev
		}
	}
	written := map[string]Op{}
	openDeletes := map[string]int{}
	ackedDeletes := map[string]int{}
	for _, c := range calls {
		if c.Kind == OpPut || c.Kind == OpCAS {
			written[c.Value] = c
		}
		if c.Kind == OpDelete {
			if c.Result != ResultOK {
				openDeletes[c.Key]++
			} else if c.Deleted > 0 {
				ackedDeletes[c.Key]++
			}
		}
		if c.Result != ResultOK {
			continue
		}
		acked := c.Kind == OpPut || c.Kind == OpCAS && c.Succeeded || c.Kind == OpDelete && c.Deleted > 0
		if !acked {
			continue
		}
		ev, ok := at[c.Revision]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("acknowledged %s of %s at revision %d (client %d, via %s) is not in the revision history", c.Kind, c.Key, c.Revision, c.Client, c.Endpoint))
		case ev.Key != c.Key || ev.Delete != (c.Kind == OpDelete) || !ev.Delete && ev.Value != c.Value:
			bad = append(bad, fmt.Sprintf("acknowledged %s of %s=%q at revision %d (client %d, via %s), but the history has %+v there", c.Kind, c.Key, c.Value, c.Revision, c.Client, c.Endpoint, ev))
		}
	}
	for v, evs := range byValue {
		if _, ok := written[v]; !ok {
			bad = append(bad, fmt.Sprintf("value %q in the history (%+v) was written by no call", v, evs[0]))
		}
		if len(evs) > 1 {
			bad = append(bad, fmt.Sprintf("value %q applied %d times: %+v", v, len(evs), evs))
		}
	}
	for k, n := range deletes {
		if n > ackedDeletes[k]+openDeletes[k] {
			bad = append(bad, fmt.Sprintf("%s deleted %d times in the history, by %d acknowledged and %d unanswered deletes", k, n, ackedDeletes[k], openDeletes[k]))
		}
	}
	var members []string
	for m := range final {
		members = append(members, m)
	}
	sort.Strings(members)
	keys := map[string]bool{}
	for _, c := range calls {
		keys[c.Key] = true
	}
	for _, m := range members {
		got := final[m]
		for k := range keys {
			want, ok := latest[k]
			v, has := got[k]
			switch {
			case (!ok || want.Delete) && has:
				bad = append(bad, fmt.Sprintf("%s serves %s=%q, but the key's last change was %+v", m, k, v, want))
			case ok && !want.Delete && (!has || v != want.Value):
				bad = append(bad, fmt.Sprintf("%s serves %s=%q (present %t), but the key's last change wrote %q at revision %d", m, k, v, has, want.Value, want.Revision))
			}
		}
	}
	sort.Strings(bad)
	return bad
}

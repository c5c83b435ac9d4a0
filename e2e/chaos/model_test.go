package chaos

import (
	"fmt"
	"sort"

	"github.com/anishathalye/porcupine"
)

// kvInput is one client call as the model sees it.
type kvInput struct {
	Op  OpKind
	Key string
	// Value is what a put or a compare-and-swap writes.
	Value string
	// Expect is the value a compare-and-swap compares with.
	Expect string
	// Maybe marks a write whose result the client never learnt (failed or
	// timed out): it may or may not have been applied, and its return is
	// at the end of time.
	Maybe bool
}

// kvOutput is what a call returned.
type kvOutput struct {
	// Found and Value are a get's.
	Found bool
	Value string
	// Deleted is a delete's count.
	Deleted int64
	// Succeeded is a compare-and-swap's.
	Succeeded bool
}

// kvState is one key: absent, or a value.
type kvState struct {
	Exists bool
	Value  string
}

// step is the key's sequential specification: the states the key can be
// in after the call, none when the call cannot have returned what it did.
// A write of unknown result forks into applied and not applied, as in
// etcd's robustness tests.
func step(st kvState, in kvInput, out kvOutput) []kvState {
	switch in.Op {
	case OpGet:
		if out.Found != st.Exists || out.Found && out.Value != st.Value {
			return nil
		}
		return []kvState{st}
	case OpPut:
		put := kvState{Exists: true, Value: in.Value}
		if in.Maybe {
			return []kvState{st, put}
		}
		return []kvState{put}
	case OpDelete:
		if in.Maybe {
			return []kvState{st, {}}
		}
		if (out.Deleted == 1) != st.Exists || out.Deleted > 1 {
			return nil
		}
		return []kvState{{}}
	case OpCAS:
		// etcd fails a value comparison on a missing key.
		match := st.Exists && st.Value == in.Expect
		put := kvState{Exists: true, Value: in.Value}
		if in.Maybe {
			if match {
				return []kvState{st, put}
			}
			return []kvState{st}
		}
		if out.Succeeded != match {
			return nil
		}
		if match {
			return []kvState{put}
		}
		return []kvState{st}
	}
	return nil
}

// kvModel is a key-value store with put, get, delete and compare-and-swap,
// partitioned per key: a history is linearizable when each key's is.
var kvModel = (&porcupine.NondeterministicModel{
	Partition: partitionByKey,
	Init:      func() []interface{} { return []interface{}{kvState{}} },
	Step: func(state, input, output interface{}) []interface{} {
		next := step(state.(kvState), input.(kvInput), output.(kvOutput))
		out := make([]interface{}, len(next))
		for i, s := range next {
			out[i] = s
		}
		return out
	},
	Equal:             func(a, b interface{}) bool { return a.(kvState) == b.(kvState) },
	DescribeOperation: describeOperation,
	DescribeState: func(state interface{}) string {
		st := state.(kvState)
		if !st.Exists {
			return "absent"
		}
		return st.Value
	},
}).ToModel()

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(kvInput).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, byKey[k])
	}
	return parts
}

func describeOperation(input, output interface{}) string {
	in, out := input.(kvInput), output.(kvOutput)
	maybe := ""
	if in.Maybe {
		maybe = " (result unknown)"
	}
	switch in.Op {
	case OpGet:
		if !out.Found {
			return fmt.Sprintf("get(%s) -> absent", in.Key)
		}
		return fmt.Sprintf("get(%s) -> %s", in.Key, out.Value)
	case OpPut:
		return fmt.Sprintf("put(%s, %s)%s", in.Key, in.Value, maybe)
	case OpDelete:
		if in.Maybe {
			return fmt.Sprintf("delete(%s)%s", in.Key, maybe)
		}
		return fmt.Sprintf("delete(%s) -> %d", in.Key, out.Deleted)
	case OpCAS:
		if in.Maybe {
			return fmt.Sprintf("cas(%s, %s -> %s)%s", in.Key, in.Expect, in.Value, maybe)
		}
		return fmt.Sprintf("cas(%s, %s -> %s) -> %t", in.Key, in.Expect, in.Value, out.Succeeded)
	}
	return fmt.Sprintf("%v -> %v", in, out)
}

package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// OpKind is a kind of client call.
type OpKind string

// The calls the clients make.
const (
	OpGet    OpKind = "get"
	OpPut    OpKind = "put"
	OpDelete OpKind = "delete"
	OpCAS    OpKind = "cas"
)

// Result is what a client learnt of its call.
type Result string

// The results of a call.
const (
	// ResultOK: the call succeeded.
	ResultOK Result = "ok"
	// ResultFailed: the call returned an error other than a timeout.
	ResultFailed Result = "failed"
	// ResultUnknown: the call timed out; a write may have been applied.
	ResultUnknown Result = "unknown"
)

// Op is one recorded call: who made it against which member, when it was
// called and returned (since the workload's start, on the monotonic
// clock), and what it returned.
type Op struct {
	Client   int           `json:"client"`
	Kind     OpKind        `json:"kind"`
	Key      string        `json:"key"`
	Value    string        `json:"value,omitempty"`
	Expect   string        `json:"expect,omitempty"`
	Endpoint string        `json:"endpoint"`
	Call     time.Duration `json:"call"`
	Return   time.Duration `json:"return"`
	Result   Result        `json:"result"`
	Err      string        `json:"err,omitempty"`
	// Found and Got are a get's; Deleted a delete's; Succeeded a
	// compare-and-swap's; Revision the response header's.
	Found     bool   `json:"found,omitempty"`
	Got       string `json:"got,omitempty"`
	Deleted   int64  `json:"deleted,omitempty"`
	Succeeded bool   `json:"succeeded,omitempty"`
	Revision  int64  `json:"revision,omitempty"`
}

// keyPrefix holds the workload's keys, away from the agent's /etcdboot/.
const keyPrefix = "/chaos/"

// opTimeout bounds each call; a call that takes longer is unknown.
const opTimeout = 2500 * time.Millisecond

// workload runs clients against the group's members until stopped and
// keeps their calls.
type workload struct {
	seed      uint64
	keys      []string
	base      time.Time
	endpoints func() []string
	connect   func(endpoint string) (*clientv3.Client, error)

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	ops    []Op
}

// startWorkload starts clients, each calling random members (endpoints
// says which the group has at that moment) over its own connections.
func startWorkload(seed uint64, clients, keys int, endpoints func() []string, connect func(string) (*clientv3.Client, error)) *workload {
	w := &workload{seed: seed, base: time.Now(), endpoints: endpoints, connect: connect}
	for i := 0; i < keys; i++ {
		w.keys = append(w.keys, fmt.Sprintf("%sk%02d", keyPrefix, i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	for id := 0; id < clients; id++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.client(ctx, id)
		}()
	}
	return w
}

// stop ends the clients, waits for their calls in flight and returns every
// call made.
func (w *workload) stop() []Op {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ops
}

// client is one client's loop: a random call against a random member,
// recorded, then a short pause.
func (w *workload) client(ctx context.Context, id int) {
	r := rand.New(rand.NewPCG(w.seed, uint64(1000+id)))
	conns := map[string]*clientv3.Client{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// last is the value this client last saw per key, which its
	// compare-and-swaps expect.
	last := map[string]string{}
	for seq := 0; ctx.Err() == nil; seq++ {
		eps := w.endpoints()
		if len(eps) == 0 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		ep := eps[r.IntN(len(eps))]
		cli, ok := conns[ep]
		if !ok {
			var err error
			if cli, err = w.connect(ep); err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			conns[ep] = cli
		}
		op := Op{Client: id, Key: w.keys[r.IntN(len(w.keys))], Endpoint: ep}
		value := fmt.Sprintf("c%d-%d", id, seq)
		switch n := r.IntN(100); {
		case n < 40:
			op.Kind = OpGet
		case n < 65:
			op.Kind, op.Value = OpPut, value
		case n < 75:
			op.Kind = OpDelete
		default:
			op.Kind, op.Value, op.Expect = OpCAS, value, last[op.Key]
		}
		op = w.do(cli, op)
		if op.Result == ResultOK {
			switch {
			case op.Kind == OpGet && op.Found:
				last[op.Key] = op.Got
			case op.Kind == OpPut || op.Kind == OpCAS && op.Succeeded:
				last[op.Key] = op.Value
			}
		}
		w.mu.Lock()
		w.ops = append(w.ops, op)
		w.mu.Unlock()
		time.Sleep(time.Duration(r.IntN(40)) * time.Millisecond)
	}
}

// do makes one call and records its times and result. Every call requires
// a leader: a member cut off from the others fails it at once instead of
// waiting out the timeout.
func (w *workload) do(cli *clientv3.Client, op Op) Op {
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), opTimeout)
	defer cancel()
	op.Call = time.Since(w.base)
	var err error
	switch op.Kind {
	case OpGet:
		var resp *clientv3.GetResponse
		if resp, err = cli.Get(ctx, op.Key); err == nil {
			op.Revision = resp.Header.Revision
			if len(resp.Kvs) > 0 {
				op.Found, op.Got = true, string(resp.Kvs[0].Value)
			}
		}
	case OpPut:
		var resp *clientv3.PutResponse
		if resp, err = cli.Put(ctx, op.Key, op.Value); err == nil {
			op.Revision = resp.Header.Revision
		}
	case OpDelete:
		var resp *clientv3.DeleteResponse
		if resp, err = cli.Delete(ctx, op.Key); err == nil {
			op.Revision, op.Deleted = resp.Header.Revision, resp.Deleted
		}
	case OpCAS:
		var resp *clientv3.TxnResponse
		resp, err = cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(op.Key), "=", op.Expect)).
			Then(clientv3.OpPut(op.Key, op.Value)).
			Commit()
		if err == nil {
			op.Revision, op.Succeeded = resp.Header.Revision, resp.Succeeded
		}
	}
	op.Return = time.Since(w.base)
	if op.Return <= op.Call {
		op.Return = op.Call + 1
	}
	op.Result = classify(err)
	if err != nil {
		op.Err = err.Error()
	}
	return op
}

// classify sorts a call's error: none is ok, a timeout (the client's or
// etcd's own request timeouts) is unknown, anything else failed. The
// checker treats a write that failed or is unknown alike, as possibly
// applied: an error reply does not prove etcd did not commit it.
func classify(err error) Result {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		status.Code(err) == codes.DeadlineExceeded, status.Code(err) == codes.Canceled,
		errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost), strings.Contains(err.Error(), "timed out"):
		return ResultUnknown
	}
	return ResultFailed
}

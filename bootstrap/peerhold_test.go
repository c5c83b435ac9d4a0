package bootstrap

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestOnlyANewClusterHoldsItsPeers(t *testing.T) {
	for _, tc := range []struct {
		firewall bool
		action   Action
		want     bool
	}{
		{true, ActionNew, true},
		{false, ActionNew, false},
		{true, ActionJoin, false},
		{true, ActionRestart, false},
		{true, ActionRejoin, false},
		{true, ActionRestore, false},
	} {
		if got := holdsPeers(tc.firewall, Plan{Action: tc.action}); got != tc.want {
			t.Errorf("firewall %v, plan %s: holds %v, want %v", tc.firewall, tc.action, got, tc.want)
		}
	}
}

func TestWaitServingWaitsForTheFirstOK(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" || asked.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"etcdserver":"3.6.16"}`))
	}))
	defer srv.Close()
	tlsConf := srv.Client().Transport.(*http.Transport).TLSClientConfig
	if err := waitServing(context.Background(), srv.URL+"/version", tlsConf); err != nil || asked.Load() != 3 {
		t.Errorf("waitServing: %v after %d asks, want nil after 3", err, asked.Load())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := waitServing(ctx, srv.URL+"/nothing", tlsConf)
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/nothing did not serve") || !strings.Contains(err.Error(), "503") {
		t.Errorf("a member that never serves: %v", err)
	}
}

// TestWaitServingOutlastsSlowAnswers: an ask that hangs (etcd listening
// before it serves, or a loaded machine) times out, and the next is given
// longer.
func TestWaitServingOutlastsSlowAnswers(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		time.Sleep(150 * time.Millisecond)
	}))
	defer srv.Close()
	tlsConf := srv.Client().Transport.(*http.Transport).TLSClientConfig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitServing(ctx, srv.URL+"/version", tlsConf); err != nil || asked.Load() < 2 {
		t.Errorf("waitServing: %v after %d asks, want nil after the first timed out", err, asked.Load())
	}
}

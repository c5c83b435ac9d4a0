package bootstrap

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/internal/tlsfiles"
)

// ErrNotReady is returned when the member did not become ready in time.
var ErrNotReady = errors.New("member not ready")

// TLSFiles names a CA and a client certificate for talking to etcd.
type TLSFiles = tlsfiles.Files

// HealthURL is the endpoint that says a member is ready: /readyz from etcd
// 3.6 on, /health on 3.5.
func HealthURL(clientURL string, minor int) string {
	if minor >= 6 {
		return strings.TrimRight(clientURL, "/") + "/readyz"
	}
	return strings.TrimRight(clientURL, "/") + "/health"
}

// LiveURL is the endpoint that says a member runs (a learner is live before
// it is ready): /livez from etcd 3.6 on, /health on 3.5.
func LiveURL(clientURL string, minor int) string {
	if minor >= 6 {
		return strings.TrimRight(clientURL, "/") + "/livez"
	}
	return strings.TrimRight(clientURL, "/") + "/health"
}

// WaitReady polls url until the member answers ready or timeout passes. The
// error names what was waited for and the last answer.
func WaitReady(ctx context.Context, url string, tlsConf *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true},
	}
	last := "no answer yet"
	// Asked again within tens of milliseconds at first (a member is often
	// ready a moment after it listens), every 100 ms once it takes longer:
	// the agent's ready is at most that late.
	wait := 25 * time.Millisecond
	for {
		ok, answer := probe(ctx, client, url)
		if ok {
			return nil
		}
		last = answer
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.Canceled) {
				return fmt.Errorf("waiting for %s: %w", url, ctx.Err())
			}
			return fmt.Errorf("%w: %s did not answer ready within %v; last answer: %s; check the member's log and that its peers are up", ErrNotReady, url, timeout, last)
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

func probe(ctx context.Context, client *http.Client, url string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	text := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Sprintf("HTTP %d %s", resp.StatusCode, text)
	}
	if strings.HasSuffix(url, "/health") {
		var h struct {
			Health string `json:"health"`
		}
		if json.Unmarshal(body, &h) != nil || h.Health != "true" {
			return false, text
		}
	}
	return true, text
}

package bootstrap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/spec"
)

// startMetrics serves the agent's own metrics (phase, join attempts,
// certificate expiry) on the node's address, port
// monitoring.DefaultAgentMetricsPort, over TLS with the node's server
// certificate and the cluster's minimum TLS version, to clients with a
// certificate from the cluster CA, as the generated prometheus.yml scrapes
// it. It runs until ctx ends.
func (a *Agent) startMetrics(ctx context.Context, n node) error {
	if a.metrics != nil {
		return nil
	}
	reg := prometheus.NewRegistry()
	a.metrics = monitoring.NewAgentMetrics(reg)
	a.maintenanceMetrics = monitoring.NewMaintenanceMetrics(reg)
	a.issuerMetrics = monitoring.NewIssuerMetrics(reg)
	t := a.tlsFiles(n)
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	caPEM, err := os.ReadFile(t.CAFile)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	// The cluster's tls.minVersion, as etcd's own listeners have it.
	minTLS, suites, err := spec.ServerTLS(n.payload.TLS.MinVersion)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	a.recordCertExpiry(n)
	addr := net.JoinHostPort(n.addrs[0].String(), strconv.Itoa(monitoring.DefaultAgentMetricsPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           monitoring.Handler(reg),
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{
			// Read at every handshake, as etcd does: installed or renewed
			// certificates are served without a restart.
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				c, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
				return &c, err
			},
			ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: minTLS, CipherSuites: suites},
	}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Warn("metrics server stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return nil
}

// recordCertExpiry exports the NotAfter of the node's certificates.
func (a *Agent) recordCertExpiry(n node) {
	if a.metrics == nil {
		return
	}
	t := n.payload.TLS
	for name, file := range map[string]string{"ca": t.CAFile, "server": t.ServerCertFile, "peer": t.PeerCertFile, "issuer": t.IssuerCertFile} {
		if file == "" {
			continue
		}
		data, err := os.ReadFile(a.path(file))
		if err != nil {
			continue
		}
		if c, _, err := parseChain(data); err == nil {
			a.metrics.SetCertExpiry(name, c.NotAfter)
		}
	}
}

// setPhase exports the step the agent is in.
func (a *Agent) setPhase(phase string) {
	if a.metrics != nil {
		a.metrics.SetPhase(phase)
	}
}

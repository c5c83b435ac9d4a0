package monitoring

import "github.com/prometheus/client_golang/prometheus"

// collectors makes the agent's collectors and registers each with reg as
// it is made, as promauto does, so that a metric is declared in one line.
// Registering a name twice panics, as prometheus.MustRegister does: that
// is a programming error, not an input one.
type collectors struct{ reg prometheus.Registerer }

// registered registers col with reg and returns it.
func registered[C prometheus.Collector](reg prometheus.Registerer, col C) C {
	reg.MustRegister(col)
	return col
}

func (c collectors) counter(name, help string) prometheus.Counter {
	return registered(c.reg, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
}

func (c collectors) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return registered(c.reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}

func (c collectors) gauge(name, help string) prometheus.Gauge {
	return registered(c.reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help}))
}

// gaugeVec with no labels is a gauge that is exported only once it is set.
func (c collectors) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return registered(c.reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels))
}

func (c collectors) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return registered(c.reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels))
}

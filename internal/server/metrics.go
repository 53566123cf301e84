package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors, registered on a
// registry passed in (never the global one).
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	grants   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, queueDepth func() float64) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokengate_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tokengate_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokengate_grants_total", Help: "Token requests by grant type and outcome (ok or the OAuth error code).",
		}, []string{"grant", "outcome"}),
	}
	reg.MustRegister(m.requests, m.latency, m.grants,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tokengate_password_hash_queue_depth", Help: "Logins hashing or waiting to hash a password.",
		}, queueDepth))
	return m
}

func (m *metrics) grantDone(grant, code string) {
	if code == "" {
		code = "ok"
	}
	m.grants.WithLabelValues(grant, code).Inc()
}

package authserver

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is told what the server does, to be counted. The caddyfile package passes
// PrometheusMetrics on Caddy's registry; nil in Config counts nothing.
type Metrics interface {
	// TokenIssued counts an access token issued through grant (client_credentials,
	// password, refresh_token, personal_access).
	TokenIssued(grant string)
	// Introspected counts an introspection answer and how long it took to make.
	Introspected(active bool, took time.Duration)
	// Revoked counts a revocation, by why it happened (revoke_endpoint, refresh_reuse,
	// superseded, user_deleted, or rotated for a refresh token retired by its rotation).
	Revoked(reason string)
}

type nopMetrics struct{}

func (nopMetrics) TokenIssued(string)               {}
func (nopMetrics) Introspected(bool, time.Duration) {}
func (nopMetrics) Revoked(string)                   {}

// The collectors are process-wide: Caddy gives every config load a new registry, and
// counters must neither reset nor be registered twice when several oauth_server
// handlers share one config.
var (
	tokensIssued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "oauth",
		Name: "tokens_issued_total",
		Help: "Access tokens issued by oauth_server, by grant type.",
	}, []string{"grant"})
	introspections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "oauth",
		Name: "introspections_total",
		Help: "Introspection answers given by oauth_server, by result (active or inactive).",
	}, []string{"result"})
	introspectionSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "oauth",
		Name:    "introspection_duration_seconds",
		Help:    "Time oauth_server takes to answer an authenticated introspection request.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
	})
	revocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "oauth",
		Name: "revocations_total",
		Help: "Token revocations made by oauth_server, by reason.",
	}, []string{"reason"})
)

// PrometheusMetrics counts into Prometheus collectors.
type PrometheusMetrics struct{}

// NewPrometheusMetrics registers the server's collectors with reg (again is fine: a
// collector already registered there is kept) and returns the Metrics that feeds them.
func NewPrometheusMetrics(reg prometheus.Registerer) (PrometheusMetrics, error) {
	for _, c := range []prometheus.Collector{tokensIssued, introspections, introspectionSeconds, revocations} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return PrometheusMetrics{}, err
			}
		}
	}
	return PrometheusMetrics{}, nil
}

// TokenIssued implements Metrics.
func (PrometheusMetrics) TokenIssued(grant string) { tokensIssued.WithLabelValues(grant).Inc() }

// Introspected implements Metrics.
func (PrometheusMetrics) Introspected(active bool, took time.Duration) {
	result := "inactive"
	if active {
		result = "active"
	}
	introspections.WithLabelValues(result).Inc()
	introspectionSeconds.Observe(took.Seconds())
}

// Revoked implements Metrics.
func (PrometheusMetrics) Revoked(reason string) { revocations.WithLabelValues(reason).Inc() }

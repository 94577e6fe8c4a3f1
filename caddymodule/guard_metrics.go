package caddymodule

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddyoauth/caddy-oauth/validator"
)

// Guard outcome reasons, the values of the `reason` label of
// caddy_oauth_guard_requests_total.
const (
	reasonPass              = "pass"
	reasonNoToken           = "no_token"
	reasonInvalidRequest    = "invalid_request"
	reasonInvalidToken      = "invalid_token"
	reasonInsufficientScope = "insufficient_scope"
	reasonUnavailable       = "unavailable"
	reasonRevoked           = "revoked"
	reasonInvalidDPoPProof  = "invalid_dpop_proof"
	reasonUseDPoPNonce      = "use_dpop_nonce"
)

// guardMetrics are the guard's Prometheus collectors. They are process-wide, made once,
// and registered into each config's registry (Caddy makes a new registry per config
// load), so counters keep counting across reloads and a second guard or a reload never
// registers a collector twice. Label values are resolved once here: a request costs one
// counter increment, nothing more.
var guardMetrics = sync.OnceValue(func() *guardCollectors {
	const ns, sub = "caddy", "oauth_guard"
	m := &guardCollectors{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Requests checked by oauth_guard, by outcome: pass or the reason for refusal.",
		}, []string{"reason"}),
		introspection: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "introspection_duration_seconds",
			Help:    "Duration of RFC 7662 introspection calls, by outcome (active, inactive, error).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"outcome"}),
		live: &liveCollector{
			caches:      map[cacheCounter]string{},
			feeds:       map[revocationSource]string{},
			hits:        prometheus.NewDesc(ns+"_"+sub+"_cache_hits_total", "Token cache lookups that found a verified token, by mode (jwt, introspection).", []string{"mode"}, nil),
			misses:      prometheus.NewDesc(ns+"_"+sub+"_cache_misses_total", "Token cache lookups that found nothing, by mode (jwt, introspection).", []string{"mode"}, nil),
			entries:     prometheus.NewDesc(ns+"_"+sub+"_cached_tokens", "Verified JWTs held in the guards' token caches (a token is cached from its second use, or when an oauth_server of this process issues it).", nil, nil),
			lag:         prometheus.NewDesc(ns+"_"+sub+"_revocation_feed_lag_seconds", "How long the revocation feed (feed=<url>) or the Laravel database (feed=passport:<driver>) has been failing to answer; 0 while it answers.", []string{"feed"}, nil),
			behind:      prometheus.NewDesc(ns+"_"+sub+"_revocation_feed_behind", "1 when the revocation feed or the Laravel database has been unreachable for longer than its threshold.", []string{"feed"}, nil),
			size:        prometheus.NewDesc(ns+"_"+sub+"_revoked_ids", "Revoked token ids the guard keeps from the feed or the Laravel database.", []string{"feed"}, nil),
			retiredHits: map[string]uint64{}, retiredMisses: map[string]uint64{},
		},
	}
	m.outcome = map[string]prometheus.Counter{}
	for _, r := range []string{reasonPass, reasonNoToken, reasonInvalidRequest, reasonInvalidToken,
		reasonInsufficientScope, reasonUnavailable, reasonRevoked, reasonInvalidDPoPProof, reasonUseDPoPNonce} {
		m.outcome[r] = m.requests.WithLabelValues(r)
	}
	m.pass = m.outcome[reasonPass]
	m.latency = map[string]prometheus.Observer{}
	for _, o := range []string{"active", "inactive", "error"} {
		m.latency[o] = m.introspection.WithLabelValues(o)
	}
	return m
})

type guardCollectors struct {
	requests      *prometheus.CounterVec
	introspection *prometheus.HistogramVec
	live          *liveCollector

	pass    prometheus.Counter
	outcome map[string]prometheus.Counter
	latency map[string]prometheus.Observer
}

// register adds the collectors to reg unless they are there already.
func (m *guardCollectors) register(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.introspection, m.live} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// observeIntrospection records one introspection call; it is the Introspector's OnCall.
func (m *guardCollectors) observeIntrospection(took float64, outcome string) {
	if o, ok := m.latency[outcome]; ok {
		o.Observe(took)
	}
}

// refusalReason names the outcome label of a refusal.
func refusalReason(err error) string {
	r, ok := validator.AsRefusal(err)
	if !ok {
		return reasonUnavailable
	}
	switch r.Kind {
	case validator.NoToken:
		return reasonNoToken
	case validator.InvalidRequest:
		return reasonInvalidRequest
	case validator.InvalidToken:
		if errors.Is(r.Err, validator.ErrRevoked) {
			return reasonRevoked
		}
		return reasonInvalidToken
	case validator.InsufficientScope:
		return reasonInsufficientScope
	case validator.InvalidDPoPProof:
		return reasonInvalidDPoPProof
	case validator.UseDPoPNonce:
		return reasonUseDPoPNonce
	}
	return reasonUnavailable
}

// cacheCounter is what the live collector reads from a token cache.
type cacheCounter interface {
	Hits() uint64
	Misses() uint64
}

// liveCollector reports, at scrape time, the counters that live in pooled objects: cache
// hits and misses (the caches count them in striped counters, cheaper on the hot path
// than a shared Prometheus counter) and the revocation feeds' state. Objects join when a
// pool makes them and leave when the pool destroys them; a leaving cache's counts are
// kept so the totals never go down.
type liveCollector struct {
	mu            sync.Mutex
	caches        map[cacheCounter]string // cache -> mode
	feeds         map[revocationSource]string
	retiredHits   map[string]uint64
	retiredMisses map[string]uint64

	hits, misses, entries, lag, behind, size *prometheus.Desc
}

// cacheSizer is a cache that can say how many tokens it holds (the JWT token cache).
type cacheSizer interface{ Len() int }

func (l *liveCollector) addCache(c cacheCounter, mode string) {
	l.mu.Lock()
	l.caches[c] = mode
	l.mu.Unlock()
}

func (l *liveCollector) removeCache(c cacheCounter) {
	l.mu.Lock()
	if mode, ok := l.caches[c]; ok {
		l.retiredHits[mode] += c.Hits()
		l.retiredMisses[mode] += c.Misses()
		delete(l.caches, c)
	}
	l.mu.Unlock()
}

// revocationSource is what the live collector reads from a follower of revocations: this
// server's feed or a Laravel database.
type revocationSource interface {
	Lag() time.Duration
	Behind() bool
	Size() int64
}

func (l *liveCollector) addFeed(f revocationSource, url string) {
	l.mu.Lock()
	l.feeds[f] = url
	l.mu.Unlock()
}

func (l *liveCollector) removeFeed(f revocationSource) {
	l.mu.Lock()
	delete(l.feeds, f)
	l.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (l *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{l.hits, l.misses, l.entries, l.lag, l.behind, l.size} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Several feeds may follow one URL (with other
// credentials); they are reported as one series, with the worst lag.
func (l *liveCollector) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	hits, misses := map[string]uint64{}, map[string]uint64{}
	for _, mode := range []string{"jwt", "introspection"} {
		hits[mode], misses[mode] = l.retiredHits[mode], l.retiredMisses[mode]
	}
	entries := 0
	for c, mode := range l.caches {
		hits[mode] += c.Hits()
		misses[mode] += c.Misses()
		if s, ok := c.(cacheSizer); ok {
			entries += s.Len()
		}
	}
	ch <- prometheus.MustNewConstMetric(l.entries, prometheus.GaugeValue, float64(entries))
	for mode := range hits {
		ch <- prometheus.MustNewConstMetric(l.hits, prometheus.CounterValue, float64(hits[mode]), mode)
		ch <- prometheus.MustNewConstMetric(l.misses, prometheus.CounterValue, float64(misses[mode]), mode)
	}
	type feedState struct{ lag, behind, size float64 }
	byURL := map[string]*feedState{}
	for f, url := range l.feeds {
		s := byURL[url]
		if s == nil {
			s = &feedState{}
			byURL[url] = s
		}
		s.lag = max(s.lag, f.Lag().Seconds())
		if f.Behind() {
			s.behind = 1
		}
		s.size = max(s.size, float64(f.Size()))
	}
	for url, s := range byURL {
		ch <- prometheus.MustNewConstMetric(l.lag, prometheus.GaugeValue, s.lag, url)
		ch <- prometheus.MustNewConstMetric(l.behind, prometheus.GaugeValue, s.behind, url)
		ch <- prometheus.MustNewConstMetric(l.size, prometheus.GaugeValue, s.size, url)
	}
}

package bridge

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcomes of an ingress request, the values of the "outcome" label.
const (
	OutcomeStored           = "stored"
	OutcomeDuplicate        = "duplicate"
	OutcomeHandshake        = "handshake"
	OutcomeInvalidSignature = "invalid_signature"
	OutcomeMissingSignature = "missing_signature"
	OutcomeStale            = "stale"
	OutcomeMalformed        = "malformed"
	OutcomeTooLarge         = "too_large"
	OutcomeRateLimited      = "rate_limited"
	OutcomeUnavailable      = "unavailable"
	OutcomeUnknownSource    = "unknown_source"
	OutcomeMethod           = "method_not_allowed"
	OutcomeInternal         = "internal_error"
)

// Metrics are the bridge's Prometheus metrics. Labels are bounded: the source label only
// ever holds a configured source name ("" for requests that named none), never a raw path,
// an id or an event type.
type Metrics struct {
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	verify   *prometheus.HistogramVec
	publish  *prometheus.HistogramVec
	inflight prometheus.Gauge
}

// NewMetrics registers the bridge metrics, plus the Go runtime and process collectors, in a
// new registry.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookbus_requests_total",
		Help: "Webhook requests by source and outcome.",
	}, []string{"source", "outcome"})
	m.verify = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookbus_verify_seconds",
		Help:    "Time to verify a request's signature.",
		Buckets: []float64{1e-6, 5e-6, 2e-5, 1e-4, 5e-4, 2e-3, 1e-2},
	}, []string{"source"})
	m.publish = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookbus_publish_seconds",
		Help:    "Time from publish to JetStream acknowledgement.",
		Buckets: []float64{1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 0.5, 2, 5},
	}, []string{"source"})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hookbus_inflight_publishes",
		Help: "Publishes waiting for their JetStream acknowledgement.",
	})
	m.Registry.MustRegister(m.requests, m.verify, m.publish, m.inflight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// sourceMetrics are one source's metrics, resolved once so the request path does no label
// lookups.
type sourceMetrics struct {
	outcomes map[string]prometheus.Counter
	verify   prometheus.Observer
	publish  prometheus.Observer
	inflight prometheus.Gauge
}

var allOutcomes = []string{OutcomeStored, OutcomeDuplicate, OutcomeHandshake, OutcomeInvalidSignature,
	OutcomeMissingSignature, OutcomeStale, OutcomeMalformed, OutcomeTooLarge, OutcomeRateLimited,
	OutcomeUnavailable, OutcomeUnknownSource, OutcomeMethod, OutcomeInternal}

func (m *Metrics) forSource(name string) *sourceMetrics {
	if m == nil {
		return nil
	}
	sm := &sourceMetrics{
		outcomes: make(map[string]prometheus.Counter, len(allOutcomes)),
		verify:   m.verify.WithLabelValues(name),
		publish:  m.publish.WithLabelValues(name),
		inflight: m.inflight,
	}
	for _, o := range allOutcomes {
		sm.outcomes[o] = m.requests.WithLabelValues(name, o)
	}
	return sm
}

func (sm *sourceMetrics) count(outcome string) {
	if sm != nil {
		sm.outcomes[outcome].Inc()
	}
}

// outcomeOf names the outcome of a rejection.
func outcomeOf(r rejection) string {
	switch r.reason {
	case "missing signature":
		return OutcomeMissingSignature
	case "stale timestamp":
		return OutcomeStale
	case "invalid signature":
		return OutcomeInvalidSignature
	case "malformed request":
		return OutcomeMalformed
	case "unknown source":
		return OutcomeUnknownSource
	case "method not allowed":
		return OutcomeMethod
	case "body too large":
		return OutcomeTooLarge
	case "rate limited":
		return OutcomeRateLimited
	case "unavailable":
		return OutcomeUnavailable
	}
	return OutcomeInternal
}

// agentCollector reports every agent's consumer state, read from JetStream at most once per
// cacheFor, so a scrape never hammers the server.
type agentCollector struct {
	js       jetstream.JetStream
	cacheFor time.Duration

	pending, ackPending, redelivered, deadLetters *prometheus.Desc

	mu      sync.Mutex
	at      time.Time
	metrics []prometheus.Metric
}

func newAgentCollector(js jetstream.JetStream) *agentCollector {
	l := []string{"agent", "stream"}
	return &agentCollector{
		js:          js,
		cacheFor:    5 * time.Second,
		pending:     prometheus.NewDesc("hookbus_agent_pending", "Events stored but not yet delivered to the agent.", l, nil),
		ackPending:  prometheus.NewDesc("hookbus_agent_ack_pending", "Events delivered to the agent and not yet acknowledged.", l, nil),
		redelivered: prometheus.NewDesc("hookbus_agent_redelivered", "Events delivered more than once and not yet acknowledged.", l, nil),
		deadLetters: prometheus.NewDesc("hookbus_agent_dead_letters", "Dead letters stored for the agent.", []string{"agent"}, nil),
	}
}

func (c *agentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
	ch <- c.redelivered
	ch <- c.deadLetters
}

func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > c.cacheFor {
		c.metrics = c.read()
		c.at = time.Now()
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *agentCollector) read() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []prometheus.Metric
	agents := map[string]bool{}
	for _, stream := range []string{subjects.StreamWebhooks, subjects.StreamAgents} {
		s, err := c.js.Stream(ctx, stream)
		if err != nil {
			continue
		}
		lister := s.ListConsumers(ctx)
		for info := range lister.Info() {
			name := info.Config.Durable
			if name == "" || subjects.ValidName(name) != nil {
				continue
			}
			agents[name] = true
			out = append(out,
				prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending), name, stream),
				prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), name, stream),
				prometheus.MustNewConstMetric(c.redelivered, prometheus.GaugeValue, float64(info.NumRedelivered), name, stream))
		}
		if err := lister.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			continue
		}
	}
	if dlq, err := c.js.Stream(ctx, subjects.StreamDLQ); err == nil {
		for name := range agents {
			n := 0.0
			if info, err := dlq.Info(ctx, jetstream.WithSubjectFilter(subjects.DLQ(name))); err == nil {
				n = float64(info.State.Subjects[subjects.DLQ(name)])
			}
			out = append(out, prometheus.MustNewConstMetric(c.deadLetters, prometheus.GaugeValue, n, name))
		}
	}
	return out
}

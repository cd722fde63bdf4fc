package relay

import (
	"context"
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcomes of a delivery attempt as the metrics count them, the values of the "outcome"
// label of hookbus_relay_deliveries_total. They say why, where a delivery event says only
// what follows (retrying, dead_lettered, …).
const (
	metricDelivered   = "delivered"    // 2xx
	metricRetry       = "retry"        // network error, timeout, 408 or 5xx: retried on the schedule
	metricRateLimited = "rate_limited" // 429: retried on the schedule
	metricHeld        = "held"         // not sent: Retry-After or the rate limit would hold it past max_hold
	metricCircuitOpen = "circuit_open" // not sent: the circuit breaker is open
	metricAborted     = "aborted"      // not sent or cut short: the relay is stopping
	metricExhausted   = "exhausted"    // any of the five above on the last attempt: dead-lettered
	metricGone        = "gone"         // 410 from an endpoint: the endpoint is disabled
	metricRejected    = "rejected"     // any other answer (other 4xx, 3xx): dead-lettered at once
	metricBlocked     = "blocked"      // the SSRF guard refused the address: dead-lettered at once
)

var allMetricOutcomes = []string{metricDelivered, metricRetry, metricRateLimited, metricHeld, metricCircuitOpen,
	metricAborted, metricExhausted, metricGone, metricRejected, metricBlocked}

// metrics are the relay's Prometheus metrics, in a registry of their own. Labels are
// bounded: endpoint is the configured endpoint name, "cb-<destination>" for a callback
// destination, or "tasks" for callback URLs the task recorder refused — the consumer name
// without "relay-", which the config keeps unique — and outcome is one of the constants
// above. No label holds a URL, an id or an event type.
type metrics struct {
	registry   *prometheus.Registry
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	inflight   *prometheus.GaugeVec
	// refused counts callback URLs under no destination (endpoint "tasks", outcome "blocked").
	refused prometheus.Counter
}

// newMetrics registers the relay metrics for targets, plus the Go runtime and process
// collectors, in a new registry.
func newMetrics(targets []*target, callbacks bool) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookbus_relay_deliveries_total",
		Help: "Delivery attempts by endpoint and outcome.",
	}, []string{"endpoint", "outcome"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hookbus_relay_delivery_seconds",
		Help:    "Time from sending a delivery to the endpoint's response headers, for the requests it answered.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"endpoint"})
	m.inflight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hookbus_relay_inflight_deliveries",
		Help: "Delivery requests sent and not yet answered.",
	}, []string{"endpoint"})
	m.registry.MustRegister(m.deliveries, m.latency, m.inflight, newStateCollector(targets),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, t := range targets {
		t.m = m.forTarget(t)
	}
	if callbacks {
		m.refused = m.deliveries.WithLabelValues(metricLabel(recorderAgent), metricBlocked)
	}
	return m
}

// metricLabel is the endpoint label of a consumer: its name without "relay-".
func metricLabel(agent string) string { return strings.TrimPrefix(agent, Name+"-") }

// targetMetrics are one target's series, resolved once so that an attempt does no label
// lookups. Every outcome's series exists from the start, at 0.
type targetMetrics struct {
	outcomes map[string]prometheus.Counter
	latency  prometheus.Observer
	inflight prometheus.Gauge
}

func (m *metrics) forTarget(t *target) *targetMetrics {
	l := metricLabel(t.agent)
	tm := &targetMetrics{
		outcomes: make(map[string]prometheus.Counter, len(allMetricOutcomes)),
		latency:  m.latency.WithLabelValues(l),
		inflight: m.inflight.WithLabelValues(l),
	}
	for _, o := range allMetricOutcomes {
		tm.outcomes[o] = m.deliveries.WithLabelValues(l, o)
	}
	return tm
}

func (tm *targetMetrics) count(outcome string) { tm.outcomes[outcome].Inc() }

// heldOutcome names the outcome of an attempt that the gate or the rate limit did not let
// through, from the error they returned.
func heldOutcome(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil, errors.Is(err, errStopping):
		return metricAborted
	case errors.Is(err, errOpen), errors.Is(err, errProbing):
		return metricCircuitOpen
	}
	return metricHeld
}

// stateCollector reports each target's state when scraped: whether it is enabled and
// whether its circuit breaker is open.
type stateCollector struct {
	targets       []*target
	enabled, open *prometheus.Desc
}

func newStateCollector(targets []*target) *stateCollector {
	l := []string{"endpoint"}
	return &stateCollector{
		targets: targets,
		enabled: prometheus.NewDesc("hookbus_relay_endpoint_enabled",
			"1 while the endpoint is delivered to, 0 once it answered 410 Gone and is disabled.", l, nil),
		open: prometheus.NewDesc("hookbus_relay_circuit_open",
			"1 while the endpoint's circuit breaker is open or half-open, 0 when closed.", l, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.enabled
	ch <- c.open
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.targets {
		l := metricLabel(t.agent)
		ch <- prometheus.MustNewConstMetric(c.enabled, prometheus.GaugeValue, flag(!t.disabled.Load()), l)
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, flag(t.gate.state() != "closed"), l)
	}
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

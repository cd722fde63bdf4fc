package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// userAgent is sent with every delivery.
const userAgent = "hookbus-relay/1"

// maxDrain bounds the response body read (and discarded) so the connection can be reused.
const maxDrain = 64 << 10

// maxRetryAfter bounds a Retry-After the relay honours.
const maxRetryAfter = 24 * time.Hour

// target is one destination at run time: an endpoint or a callback destination, with its
// consumer, HTTP client, rate limiter, breaker and jittered schedule.
type target struct {
	name     string // endpoint or destination name
	agent    string // consumer (agent) name
	callback bool
	url      string   // endpoint URL; "" for a callback destination
	filters  []string // endpoint subject filters
	prefix   *url.URL // callback destination prefix
	d        Delivery
	schedule []time.Duration
	client   *http.Client
	limiter  *rate.Limiter
	gate     *gate
	log      zerolog.Logger
	m        *targetMetrics

	disabled atomic.Bool
	// stop ends the target's agent; stopping closes when it ends (set by Run).
	stop     func()
	stopping <-chan struct{}
}

func newTarget(name, agent string, d Delivery, ssrf *SSRF, log zerolog.Logger) *target {
	t := &target{
		name:     name,
		agent:    agent,
		d:        d,
		schedule: jittered(d.Schedule, d.Jitter),
		gate:     newGate(d.Breaker),
		log:      log.With().Str("consumer", agent).Logger(),
	}
	if d.RateLimit.PerSecond > 0 {
		t.limiter = rate.NewLimiter(rate.Limit(d.RateLimit.PerSecond), d.RateLimit.Burst)
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would be the address dialled, and the guard would judge it
		DialContext:           ssrf.dialer().DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2 * d.Concurrency,
		MaxIdleConnsPerHost:   d.Concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	t.client = &http.Client{
		Transport: tr,
		// Redirects are not followed: the answer is judged as it is (a 3xx dead-letters),
		// and a redirect could lead anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return t
}

// jittered spreads each step by up to ±j of itself; j <= 0 keeps the steps.
func jittered(steps []time.Duration, j float64) []time.Duration {
	out := make([]time.Duration, len(steps))
	for i, s := range steps {
		if j > 0 {
			s = time.Duration(float64(s) * (1 + j*(2*rand.Float64()-1)))
		}
		out[i] = max(s, time.Millisecond)
	}
	return out
}

// maxDeliver is the number of attempts per event: the first and one per schedule step.
func (t *target) maxDeliver() int { return len(t.schedule) + 1 }

// retryIn is the delay the agent waits after a failed attempt n.
func (t *target) retryIn(n int) time.Duration {
	i := min(max(n-1, 0), len(t.schedule)-1)
	return t.schedule[i]
}

// request is one delivery to make.
type request struct {
	url         string
	body        []byte
	contentType string
	header      map[string]string // besides the configured ones
	taskID      string
}

// deliver makes one attempt of ev to t, records it as a delivery event, counts it in the
// metrics, and returns what the agent should do: nil (acknowledge), an agents.Permanent
// error (dead-letter at once) or another error (retry on the schedule).
func (r *Relay) deliver(ctx context.Context, t *target, ev *agents.Event, req request) error {
	a := Attempt{
		Target: t.name, Callback: t.callback, URL: redactURL(req.url), EventID: ev.ID,
		Subject: ev.Subject, TaskID: req.taskID, Attempt: ev.Attempt,
	}
	last := ev.Attempt >= t.maxDeliver()
	// retry records a failed attempt, counted as outcome unless it was the last one.
	retry := func(outcome string, err error) error {
		a.Error = err.Error()
		if last {
			a.Outcome = OutcomeDeadLettered
			outcome = metricExhausted
		} else {
			a.Outcome = OutcomeRetrying
			a.RetryIn = t.retryIn(ev.Attempt).String()
		}
		t.m.count(outcome)
		r.record(ev, t.agent, a)
		return err
	}

	done, err := t.gate.enter(ctx, t.stopping, t.d.MaxHold)
	if err != nil {
		return retry(heldOutcome(ctx, err), err)
	}
	if err := t.waitRate(ctx); err != nil {
		done(resultAborted, 0)
		return retry(heldOutcome(ctx, err), err)
	}
	start := time.Now()
	t.m.inflight.Inc()
	status, retryAfter, err := t.send(ctx, req, ev.ID)
	t.m.inflight.Dec()
	took := time.Since(start)
	a.LatencyMS = float64(took.Microseconds()) / 1000
	a.Status = status
	if err == nil {
		t.m.latency.Observe(took.Seconds())
	}
	switch {
	case errors.Is(err, ErrRefused):
		done(resultAborted, 0)
		t.m.count(metricBlocked)
		a.Outcome, a.Error = OutcomeRefused, err.Error()
		r.record(ev, t.agent, a)
		return agents.Permanent(fmt.Errorf("%s: %w", t.name, err))
	case err != nil && ctx.Err() != nil:
		done(resultAborted, 0)
		return retry(metricAborted, fmt.Errorf("%s: attempt cut short: %w", t.name, err))
	case err != nil:
		done(resultFailure, 0)
		return retry(metricRetry, fmt.Errorf("%s: %w", t.name, err))
	case status >= 200 && status < 300:
		done(resultSuccess, 0)
		t.m.count(metricDelivered)
		a.Outcome = OutcomeDelivered
		r.record(ev, t.agent, a)
		return nil
	case status == http.StatusGone && !t.callback:
		done(resultNeutral, 0)
		t.m.count(metricGone)
		return r.disable(t, ev, a)
	case status == http.StatusRequestTimeout || status >= 500:
		done(resultFailure, retryAfter)
		return retry(metricRetry, fmt.Errorf("%s answered %d %s", t.name, status, http.StatusText(status)))
	case status == http.StatusTooManyRequests:
		done(resultNeutral, retryAfter)
		return retry(metricRateLimited, fmt.Errorf("%s answered %d %s", t.name, status, http.StatusText(status)))
	}
	done(resultNeutral, 0)
	t.m.count(metricRejected)
	err = fmt.Errorf("%s answered %d %s: not retried", t.name, status, http.StatusText(status))
	a.Outcome, a.Error = OutcomeDeadLettered, err.Error()
	r.record(ev, t.agent, a)
	return agents.Permanent(err)
}

// waitRate waits for the rate limiter, at most MaxHold, and not past a stop.
func (t *target) waitRate(ctx context.Context) error {
	if t.limiter == nil {
		return nil
	}
	res := t.limiter.Reserve()
	d := res.Delay()
	if d == 0 {
		return nil
	}
	if d > t.d.MaxHold {
		res.Cancel()
		return fmt.Errorf("%w: rate limit: next slot in %s", ErrHeld, d)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		res.Cancel()
		return ctx.Err()
	case <-t.stopping:
		res.Cancel()
		return fmt.Errorf("%w: %w", ErrHeld, errStopping)
	}
}

// send POSTs req, signed, and returns the status and the Retry-After it asked for. Errors
// are network errors and timeouts (wrapping ErrRefused when the guard refused the address),
// without the URL, which may hold a token.
func (t *target) send(ctx context.Context, req request, id string) (status int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, t.d.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.url, bytes.NewReader(req.body))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: unusable URL %q", ErrRefused, redactURL(req.url))
	}
	h := hr.Header
	for k, v := range t.d.Headers {
		h.Set(k, v)
	}
	for k, v := range req.header {
		h.Set(k, v)
	}
	ct := req.contentType
	if ct == "" {
		ct = "application/json"
	}
	h.Set("Content-Type", ct)
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", userAgent)
	}
	now := time.Now()
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(HeaderWebhookSignature, Sign(t.d.Secrets, id, now, req.body))
	resp, err := t.client.Do(hr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s", t.d.Timeout)
		}
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), now), nil
}

// parseRetryAfter reads a Retry-After value, delay-seconds or an HTTP date; 0 when absent,
// unreadable or past, and at most maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

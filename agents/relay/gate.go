package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// gate decides when a destination may be sent to: it holds attempts while the destination
// asked to wait (Retry-After) and while its circuit breaker is open, and lets one probe
// through when the breaker's cooldown ends. Its state lives in memory: after a restart the
// destination is simply tried again.
type gate struct {
	threshold int
	cooldown  time.Duration

	mu          sync.Mutex
	failures    int       // consecutive failed attempts
	openUntil   time.Time // breaker open until then; zero when closed
	open        bool      // open or half-open
	probing     bool      // the half-open probe is in flight
	pausedUntil time.Time // Retry-After
	changed     chan struct{}
}

func newGate(b Breaker) *gate {
	return &gate{threshold: b.Failures, cooldown: b.Cooldown, changed: make(chan struct{})}
}

// result is what an attempt tells the gate.
type result int

const (
	resultNeutral result = iota // the destination answered, but neither success nor its fault (4xx, 429)
	resultSuccess               // 2xx
	resultFailure               // network error, timeout, 408, 5xx: counts for the breaker
	resultAborted               // the attempt did not really happen (stop): tells nothing
)

// Why an attempt is held, wrapped beside ErrHeld so the metrics can tell them apart.
var (
	errPaused   = errors.New("the endpoint asked to wait (Retry-After)")
	errOpen     = errors.New("the circuit breaker is open")
	errProbing  = errors.New("the circuit breaker is half-open, waiting for its probe")
	errStopping = errors.New("the relay is stopping")
)

// enter waits until an attempt may be made and returns done, which the caller must call
// with the attempt's result and the Retry-After the destination sent (0 for none). It waits
// at most hold; past that, or when the wait would end later than that, it returns an error
// wrapping ErrHeld. It also returns early with ctx's error or when stop closes.
func (g *gate) enter(ctx context.Context, stop <-chan struct{}, hold time.Duration) (done func(result, time.Duration), err error) {
	deadline := time.Now().Add(hold)
	for {
		now := time.Now()
		g.mu.Lock()
		var until time.Time
		var why error
		if g.pausedUntil.After(now) {
			until, why = g.pausedUntil, errPaused
		}
		if g.open && g.openUntil.After(now) && g.openUntil.After(until) {
			until, why = g.openUntil, errOpen
		}
		var wake <-chan struct{}
		switch {
		case !until.IsZero():
			if until.After(deadline) {
				g.mu.Unlock()
				return nil, fmt.Errorf("%w: %w until %s", ErrHeld, why, until.UTC().Format(time.RFC3339))
			}
		case g.open && g.probing:
			// Half-open with the probe in flight: wait for its outcome.
			wake = g.changed
			until = deadline
			why = errProbing
		case g.open:
			g.probing = true
			g.mu.Unlock()
			return g.finish(true), nil
		default:
			g.mu.Unlock()
			return g.finish(false), nil
		}
		g.mu.Unlock()
		if !until.After(now) && wake != nil {
			return nil, fmt.Errorf("%w: %w", ErrHeld, why)
		}
		t := time.NewTimer(until.Sub(now))
		select {
		case <-t.C:
		case <-wake:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-stop:
			t.Stop()
			return nil, fmt.Errorf("%w: %w", ErrHeld, errStopping)
		}
		t.Stop()
	}
}

// finish returns the done function of an attempt.
func (g *gate) finish(probe bool) func(result, time.Duration) {
	var once sync.Once
	return func(r result, retryAfter time.Duration) {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			now := time.Now()
			if probe {
				g.probing = false
			}
			switch r {
			case resultSuccess, resultNeutral:
				g.failures = 0
				g.open = false
				g.openUntil = time.Time{}
			case resultFailure:
				g.failures++
				if probe || g.failures >= g.threshold {
					g.open = true
					g.openUntil = now.Add(g.cooldown)
				}
			}
			if retryAfter > 0 {
				if t := now.Add(retryAfter); t.After(g.pausedUntil) {
					g.pausedUntil = t
				}
			}
			close(g.changed)
			g.changed = make(chan struct{})
		})
	}
}

// state describes the gate for logs and events: "closed", "open" or "half-open".
func (g *gate) state() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case !g.open:
		return "closed"
	case g.openUntil.After(time.Now()):
		return "open"
	}
	return "half-open"
}

package relay

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestBreaker: consecutive failures open it, attempts are then held (and refused past the
// hold), one probe goes through after the cooldown, and a successful probe closes it.
func TestBreaker(t *testing.T) {
	g := newGate(Breaker{Failures: 2, Cooldown: 200 * time.Millisecond})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		done, err := g.enter(ctx, nil, time.Millisecond)
		if err != nil {
			t.Fatalf("attempt %d held while closed: %v", i, err)
		}
		done(resultFailure, 0)
	}
	if s := g.state(); s != "open" {
		t.Fatalf("state %s after 2 failures, want open", s)
	}
	if _, err := g.enter(ctx, nil, time.Millisecond); !errors.Is(err, ErrHeld) {
		t.Fatalf("open breaker let an attempt through: %v", err)
	}
	// Held until the cooldown ends: the probe.
	probe, err := g.enter(ctx, nil, 10*time.Second)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	// While the probe is in flight, others wait for its outcome.
	var wg sync.WaitGroup
	entered := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := g.enter(ctx, nil, 10*time.Second)
			if err == nil {
				done(resultSuccess, 0)
			}
			entered <- err
		}()
	}
	select {
	case err := <-entered:
		t.Fatalf("an attempt passed the half-open breaker beside the probe: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	probe(resultSuccess, 0)
	wg.Wait()
	close(entered)
	for err := range entered {
		if err != nil {
			t.Errorf("after a good probe: %v", err)
		}
	}
	if s := g.state(); s != "closed" {
		t.Fatalf("state %s after a good probe", s)
	}
}

// TestRetryAfterHolds: a Retry-After holds later attempts, up to the hold; a stop ends the
// wait.
func TestRetryAfterHolds(t *testing.T) {
	g := newGate(Breaker{Failures: 5, Cooldown: time.Second})
	done, _ := g.enter(context.Background(), nil, 0)
	done(resultNeutral, time.Hour)
	if _, err := g.enter(context.Background(), nil, time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("Retry-After 1h, hold 1m: %v, want ErrHeld", err)
	}
	g2 := newGate(Breaker{Failures: 5, Cooldown: time.Second})
	done, _ = g2.enter(context.Background(), nil, 0)
	done(resultNeutral, 30*time.Second)
	stop := make(chan struct{})
	close(stop)
	if _, err := g2.enter(context.Background(), stop, time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("stopped wait: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-5":                            0,
		"7":                             7 * time.Second,
		"99999999999999":                maxRetryAfter,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second,
		"Wed, 31 Dec 2025 00:00:00 GMT": 0,
		"soon":                          0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

// TestRateLimitHolds: past its burst, an attempt waits for the next slot, and one that would
// wait longer than MaxHold is held instead.
func TestRateLimitHolds(t *testing.T) {
	d := Delivery{RateLimit: RateLimit{PerSecond: 20, Burst: 1}, MaxHold: time.Second, Concurrency: 1, Breaker: Breaker{Failures: 1, Cooldown: time.Second}}
	tg := newTarget("r", "relay-r", d, &SSRF{}, zerolog.Nop())
	for i := 0; i < 3; i++ { // the second and third wait about 50ms each
		if err := tg.waitRate(context.Background()); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	d.RateLimit = RateLimit{PerSecond: 0.001, Burst: 1}
	tg = newTarget("r", "relay-r", d, &SSRF{}, zerolog.Nop())
	if err := tg.waitRate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tg.waitRate(context.Background()); !errors.Is(err, ErrHeld) {
		t.Fatalf("slot in 1000s, hold 1s: %v", err)
	}
}

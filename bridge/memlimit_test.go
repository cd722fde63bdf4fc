package bridge_test

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge"
	"github.com/rs/zerolog"
)

// TestLimitMemory: the configured limit is set while the live heap is small, follows the
// live heap at one and a half times it once that is more, is put back when the context
// ends, and is left alone when GOMEMLIMIT is set or the limit is 0.
func TestLimitMemory(t *testing.T) {
	current := func() int64 { return debug.SetMemoryLimit(-1) }
	runtime.GC() // what earlier tests left is not live heap
	before := current()
	const limit = 64 << 20

	ctx, cancel := context.WithCancel(context.Background())
	bridge.LimitMemory(ctx, limit, zerolog.Nop())
	if got := current(); got != limit {
		t.Fatalf("limit %d after LimitMemory, want %d", got, limit)
	}

	live := make([]byte, 96<<20) // live heap of ~96MiB: 1.5 times it is above the limit
	for i := range live {
		live[i] = byte(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for current() < 96<<20*3/2 {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d with %d bytes live, want at least %d", current(), len(live), 96<<20*3/2)
		}
		runtime.GC() // the live heap is measured at the end of a collection
		time.Sleep(100 * time.Millisecond)
	}
	runtime.KeepAlive(live)
	live = nil
	for current() != limit {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d after the live data went, want %d again", current(), limit)
		}
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
	}

	cancel()
	for current() != before {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d after the context ended, want %d back", current(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}

	t.Setenv("GOMEMLIMIT", "1GiB")
	bridge.LimitMemory(context.Background(), limit, zerolog.Nop())
	if got := current(); got != before {
		t.Fatalf("with GOMEMLIMIT set: limit %d, want %d untouched", got, before)
	}
	t.Setenv("GOMEMLIMIT", "")
	bridge.LimitMemory(context.Background(), 0, zerolog.Nop())
	if got := current(); got != before {
		t.Fatalf("memory_limit 0: limit %d, want %d untouched", got, before)
	}
}

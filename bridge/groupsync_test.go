package bridge

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroupSyncCoversEveryCaller: every wait returns only after a sync that began after
// the call ended, and concurrent callers share syncs.
func TestGroupSyncCoversEveryCaller(t *testing.T) {
	type span struct{ start, end time.Time }
	var mu sync.Mutex
	var spans []span
	g := newGroupSync(func() error {
		s := span{start: time.Now()}
		time.Sleep(2 * time.Millisecond)
		s.end = time.Now()
		mu.Lock()
		spans = append(spans, s)
		mu.Unlock()
		return nil
	})
	const callers = 200
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range callers {
		wg.Go(func() {
			time.Sleep(time.Duration(i%20) * 500 * time.Microsecond)
			called := time.Now()
			if err := g.wait(); err != nil {
				t.Error(err)
			}
			returned := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, s := range spans {
				if !s.start.Before(called) && !s.end.After(returned) {
					return
				}
			}
			bad.Add(1)
		})
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d callers returned without a sync that began after their call", bad.Load())
	}
	if len(spans) >= callers/2 {
		t.Fatalf("%d syncs for %d concurrent callers: not shared", len(spans), callers)
	}
	t.Logf("%d callers, %d syncs", callers, len(spans))
}

func TestGroupSyncReportsFailure(t *testing.T) {
	fail := errors.New("disk gone")
	var calls atomic.Int32
	g := newGroupSync(func() error {
		if calls.Add(1) == 1 {
			return fail
		}
		return nil
	})
	if err := g.wait(); !errors.Is(err, fail) {
		t.Fatalf("first wait: %v, want the sync's error", err)
	}
	if err := g.wait(); err != nil {
		t.Fatalf("second wait: %v", err)
	}
}

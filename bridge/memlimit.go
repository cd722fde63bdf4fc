package bridge

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/rs/zerolog"
)

// memoryHeadroom is how far above the live heap the soft memory limit always stays: the
// limit keeps a bridge's resident set small while its live data is small, and never makes
// the runtime collect without end when the live data grows (a longer duplicate window at a
// high rate, many agents' consumers): then it follows the live heap at one and a half times
// it, as GOGC=50 would.
const memoryHeadroom = 1.5

// LimitMemory sets the Go runtime's soft memory limit to limit bytes, raised to
// memoryHeadroom times the live heap while that is more, and keeps it so once a second
// until ctx is done; then it puts back the limit it found. It does nothing when limit is
// 0, or when the GOMEMLIMIT environment variable is set: the operator's own setting wins.
func LimitMemory(ctx context.Context, limit int64, log zerolog.Logger) {
	if limit <= 0 {
		return
	}
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info().Str("GOMEMLIMIT", v).Msg("memory_limit left to GOMEMLIMIT")
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	target := func() int64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return limit
		}
		live := sample[0].Value.Uint64()
		if live > uint64(math.MaxInt64/2) {
			return math.MaxInt64
		}
		return max(limit, int64(float64(live)*memoryHeadroom))
	}
	cur := target()
	prev := debug.SetMemoryLimit(cur)
	log.Info().Int64("memory_limit", limit).Msg("soft memory limit set")
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				debug.SetMemoryLimit(prev)
				return
			case <-tick.C:
				next := target()
				if next == cur {
					continue
				}
				if cur == limit {
					log.Warn().Int64("memory_limit", limit).Int64("now", next).
						Msg("live heap above two thirds of memory_limit: the limit follows it")
				}
				debug.SetMemoryLimit(next)
				cur = next
			}
		}
	}()
}

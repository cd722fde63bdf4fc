package bench

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's resolution: 2^subBits buckets per power of two, so a
// recorded value is reported within 1/2^subBits (1.6%) of itself.
const subBits = 6

const subCount = 1 << subBits

// Histogram counts durations in log-linear buckets: bounded memory however long the run,
// exact enough for percentiles. The zero value is empty and ready; it is not safe for
// concurrent use (give each sender its own and Merge them).
type Histogram struct {
	counts []uint64
	n      uint64
	max    time.Duration
	sum    time.Duration
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)*subCount + int(v>>uint(shift)) - subCount
}

// bucketValue is the middle of a bucket's range.
func bucketValue(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	shift := i/subCount - 1
	lo := uint64(i%subCount+subCount) << uint(shift)
	return lo + (uint64(1)<<uint(shift))/2
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := bucketOf(uint64(d))
	if i >= len(h.counts) {
		n := make([]uint64, i+1+subCount)
		copy(n, h.counts)
		h.counts = n
	}
	h.counts[i]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds every count of o.
func (h *Histogram) Merge(o *Histogram) {
	if len(o.counts) > len(h.counts) {
		n := make([]uint64, len(o.counts))
		copy(n, h.counts)
		h.counts = n
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Count is the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the duration below which a fraction q (0..1) of the recorded ones lie;
// 0 when nothing was recorded. Quantile(1) is the exact maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if v := time.Duration(bucketValue(i)); v < h.max {
				return v
			}
			return h.max
		}
	}
	return h.max
}

// Latency summarises a histogram in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p99_9_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Summary returns the percentiles of h.
func (h *Histogram) Summary() Latency {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	l := Latency{
		P50:  ms(h.Quantile(0.50)),
		P90:  ms(h.Quantile(0.90)),
		P99:  ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)),
		Max:  ms(h.max),
	}
	if h.n > 0 {
		l.Mean = ms(h.sum / time.Duration(h.n))
	}
	return l
}

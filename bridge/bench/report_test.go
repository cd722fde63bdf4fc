package bench

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	var in strings.Builder
	line := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(append(b, '\n'))
	}
	load := func(variant, store string, round int, cpu, thr float64, ok bool) *LoadResult {
		r := &LoadResult{
			Kind:   "load",
			Labels: map[string]string{LabelVariant: variant, LabelRound: strconv.Itoa(round)},
			OK:     100, Throughput: thr, Status: map[string]int64{"200": 100},
			Server: &ServerStats{CPUPerOK: cpu, PeakRSSMB: 40},
			Check:  &Check{OK: ok},
		}
		if store != "" {
			r.Labels[LabelStore] = store
		}
		return r
	}
	in.WriteString("# a comment, then a blank line\n\n")
	hookbusCPU := []float64{40, 50, 20}
	for round := 1; round <= 3; round++ {
		line(load("noop", "", round, 10, 20000, true))
		line(load("hookbus", "tmpfs", round, hookbusCPU[round-1], 5000, round != 2))
		line(&FloorResult{Kind: "floor", Labels: map[string]string{LabelVariant: "floor", LabelStore: "tmpfs", LabelRound: strconv.Itoa(round)}, CPUPerMsg: 20, Throughput: 30000})
	}
	line(&E2EResult{Kind: "e2e", Rate: 200, E2E: Latency{P50: 1.5, P99: 4}, Acked: 10, Handled: 10})
	line(&StartupResult{Kind: "startup", Labels: map[string]string{"events": "0"}, Runs: []float64{120, 100, 110}, Median: 110})

	var out strings.Builder
	err := Report(&out, strings.NewReader(in.String()), ReportConfig{
		Pairs:  []Pair{{A: "noop@-", B: "hookbus@tmpfs"}},
		Floors: []FloorPair{{Noop: "noop@-", Floor: "floor@tmpfs", Target: "hookbus@tmpfs"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| hookbus@tmpfs | 3 | 40.0 | 5000 |", // median CPU and throughput
		"**FAILED** 2/3 ok",                   // a failed check is loud
		"| **median** | **10.0** | **40.0** | **0.25×** | **20000** | **5000** | **4.00×** |",
		"| **median** | **10.0** | **20.0** | **30.0** | **40.0** | **1.33×** |", // the floor
		"end to end, webhook → agent handler at 200/s | p50 1.50 ms",
		"start-up to ready, events=0 | median 110 ms (runs: 120, 100, 110 ms",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if err := Report(&out, strings.NewReader("{not json\n"), ReportConfig{}); err == nil {
		t.Error("Report accepted a broken line")
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// Package bench measures hookbus: a closed-loop load generator that sends signed GitHub
// webhooks and then proves that every acknowledged delivery is stored exactly once, the
// baselines it is compared with (a no-op HTTP server and a naive net/http bridge), and the
// other figures of the benchmark: end-to-end latency to an agent's handler, one agent's
// throughput, replay rate, start-up time, and the raw JetStream publish floor.
//
// Speed on a shared machine swings with CPU steal, so every server-side figure is paired
// with the process's CPU time (utime+stime from /proc) divided by the requests answered,
// which does not. The command hookbus-bench (bridge/cmd/hookbus-bench) is the thin front
// end; scripts/bench.sh runs the interleaved comparison and BENCHMARKS.md records one run.
package bench

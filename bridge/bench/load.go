package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LoadConfig describes one closed-loop run: Conns senders, each with its own keep-alive
// connection, each sending its next request as soon as the previous one is answered.
type LoadConfig struct {
	Target
	// Conns is the number of connections, each with one request in flight; 64 when zero.
	Conns int
	// Warmup is sent before the measured window and not counted (it is checked); 1s when
	// zero, none when negative.
	Warmup time.Duration
	// Duration is the measured window; 10s when zero.
	Duration time.Duration
	// PID is the server process to measure (CPU time and resident set); 0 for none.
	PID int
	// SampleInterval is how often the server's resident set is read; 100ms when zero.
	SampleInterval time.Duration
	// NATS is the URL of the server holding the WEBHOOKS stream; the run is then checked
	// against it. "" skips the check (for servers that store nothing).
	NATS string
	// CheckTimeout bounds the check; 2m when zero.
	CheckTimeout time.Duration
	// Timeline splits the window into this many equal parts and reports each part's
	// throughput, server CPU per request and resident set, to show drift over a long run;
	// 0 for none.
	Timeline int
	// Labels are copied into the result, to tell runs apart in a report.
	Labels map[string]string
}

// TimelinePoint is one part of the measured window.
type TimelinePoint struct {
	From       float64 `json:"from_s"` // seconds since the window began
	Throughput float64 `json:"ok_per_s"`
	CPUPerOK   float64 `json:"cpu_per_ok_us,omitempty"`
	RSSMB      float64 `json:"rss_mb,omitempty"` // highest sampled in the part
}

// ServerStats is what the server process spent during the measured window.
type ServerStats struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_s"`         // utime+stime in the window, every thread
	CPUPerOK   float64 `json:"cpu_per_ok_us"` // CPU microseconds per 2xx answer
	PeakRSSMB  float64 `json:"peak_rss_mb"`   // highest resident set sampled during the run
	HWMMB      float64 `json:"hwm_mb"`        // the kernel's peak resident set (VmHWM), start-up included
	Threads    int     `json:"threads"`
}

// LoadResult is one run's figures. Rates and latencies cover the measured window; Status,
// Sent and Errors the whole run.
type LoadResult struct {
	Kind     string            `json:"kind"` // "load"
	Labels   map[string]string `json:"labels,omitempty"`
	Run      string            `json:"run"` // hex prefix of this run's delivery ids
	URL      string            `json:"url"`
	Source   string            `json:"source"`
	Conns    int               `json:"conns"`
	BodySize int               `json:"body_bytes"`
	Window   float64           `json:"window_s"`

	Answered   int64   `json:"answered"` // answers in the window
	OK         int64   `json:"ok"`       // 2xx answers in the window
	Throughput float64 `json:"ok_per_s"` // 2xx answers per second
	Rate       float64 `json:"answers_per_s"`
	Latency    Latency `json:"latency"` // of every answer in the window

	Sent       int64            `json:"sent"`
	Status     map[string]int64 `json:"status"` // by status code, whole run
	Errors     int64            `json:"errors"` // transport errors (no answer)
	FirstError string           `json:"first_error,omitempty"`

	Server    *ServerStats    `json:"server,omitempty"`
	Timeline  []TimelinePoint `json:"timeline,omitempty"`
	ClientCPU float64         `json:"client_cpu_per_req_us"` // this process's CPU per answer
	Check     *Check          `json:"check,omitempty"`
}

func (c *LoadConfig) defaults() error {
	if err := c.Target.defaults(); err != nil {
		return err
	}
	if c.Conns <= 0 {
		c.Conns = 64
	}
	if c.Conns > 1<<16 {
		return fmt.Errorf("bench: %d connections is more than %d", c.Conns, 1<<16)
	}
	if c.Warmup == 0 {
		c.Warmup = time.Second
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.SampleInterval <= 0 {
		c.SampleInterval = 100 * time.Millisecond
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = 2 * time.Minute
	}
	return nil
}

// slot is the resolution at which answers are counted over time, so that the counts can be
// cut at the instants the CPU time was actually read (which a busy machine delays).
const slot = 10 * time.Millisecond

// senderStats is one sender's tally.
type senderStats struct {
	hist     Histogram // answers completed inside the nominal window
	status   map[int]int64
	answered []int32 // by slot since the start
	ok       []int32
	errors   int64
	firstErr error
}

// count sums a per-slot tally over [from, to), both relative to the start.
func count(slots []int32, from, to time.Duration) int64 {
	var n int64
	for i := int(from / slot); i < int(to/slot) && i < len(slots); i++ {
		if i >= 0 {
			n += int64(slots[i])
		}
	}
	return n
}

// Load runs cfg: Warmup, then the measured window, then waits for the answers in flight,
// then (with NATS set) checks the stream. The result is returned even when the check fails;
// the error then wraps ErrCheckFailed. Load returns early, with what it measured, when ctx
// is done.
func Load(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	hc, uri, err := cfg.client(cfg.Conns)
	if err != nil {
		return nil, err
	}
	defer hc.CloseIdleConnections()
	run := newRun()
	res := &LoadResult{
		Kind: "load", Labels: cfg.Labels, Run: fmt.Sprintf("%08x", run), URL: uri, Source: cfg.Source,
		Conns: cfg.Conns, BodySize: cfg.BodySize, Status: map[string]int64{},
	}

	var js jetstream.JetStream
	var start uint64
	if cfg.NATS != "" {
		nc, err := nats.Connect(cfg.NATS, nats.Name("hookbus-bench"))
		if err != nil {
			return nil, fmt.Errorf("bench: connect to NATS: %w", err)
		}
		defer nc.Close()
		if js, err = jetstream.New(nc); err != nil {
			return nil, fmt.Errorf("bench: jetstream: %w", err)
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start, err = streamStart(sctx, js, subjects.StreamWebhooks)
		cancel()
		if err != nil {
			return nil, err
		}
	}

	senders := make([]*sender, cfg.Conns)
	for i := range senders {
		if senders[i], err = newSender(&cfg.Target, hc, uri, run, uint16(i)); err != nil {
			return nil, err
		}
	}
	var sampler *Sampler
	if cfg.PID > 0 {
		if sampler, err = StartSampler(cfg.PID, cfg.SampleInterval); err != nil {
			return nil, err
		}
		defer sampler.Stop()
	}

	began := time.Now()
	from, to := began.Add(cfg.Warmup), began.Add(cfg.Warmup+cfg.Duration)
	// The window's edges: server CPU and this process's CPU, read as close to them as the
	// scheduler allows.
	type edge struct {
		at     time.Time
		server ProcSample
		self   time.Duration
		err    error
	}
	edges := make(chan [2]edge, 1)
	go func() {
		var e [2]edge
		for i, t := range []time.Time{from, to} {
			sleepUntil(ctx, t)
			e[i].at, e[i].self = time.Now(), SelfCPU()
			if sampler != nil {
				e[i].server, e[i].err = sampler.Mark()
			}
		}
		edges <- e
	}()

	stats := make([]senderStats, cfg.Conns)
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &stats[i]
			st.status = map[int]int64{}
			// Room for the whole run and answers arriving up to a request timeout after it.
			n := int((cfg.Warmup+cfg.Duration+cfg.Timeout)/slot) + 1
			st.answered, st.ok = make([]int32, n), make([]int32, n)
			for ctx.Err() == nil && time.Now().Before(to) {
				status, took, err := s.send(0)
				done := time.Now()
				if err != nil {
					st.errors++
					if st.firstErr == nil {
						st.firstErr = err
					}
					time.Sleep(10 * time.Millisecond) // no hot loop against a dead server
					continue
				}
				st.status[status]++
				if k := int(done.Sub(began) / slot); k < len(st.answered) {
					st.answered[k]++
					if status >= 200 && status < 300 {
						st.ok[k]++
					}
				}
				if !done.Before(from) && !done.After(to) {
					st.hist.Record(took)
				}
			}
		}()
	}
	wg.Wait()
	e := <-edges

	var hist Histogram
	w0, w1 := e[0].at.Sub(began), e[1].at.Sub(began)
	for i := range stats {
		st := &stats[i]
		hist.Merge(&st.hist)
		res.Answered += count(st.answered, w0, w1)
		res.OK += count(st.ok, w0, w1)
		res.Errors += st.errors
		if st.firstErr != nil && res.FirstError == "" {
			res.FirstError = st.firstErr.Error()
		}
		for code, n := range st.status {
			res.Status[strconv.Itoa(code)] += n
		}
	}
	for _, s := range senders {
		res.Sent += int64(s.next)
	}
	// Counted in whole slots, as the answers are.
	window := time.Duration(int(w1/slot)-int(w0/slot)) * slot
	res.Window = window.Seconds()
	res.Latency = hist.Summary()
	if window > 0 {
		res.Throughput = float64(res.OK) / window.Seconds()
		res.Rate = float64(res.Answered) / window.Seconds()
	}
	if res.Answered > 0 {
		res.ClientCPU = micros(e[1].self-e[0].self) / float64(res.Answered)
	}
	if sampler != nil {
		if err := errors.Join(e[0].err, e[1].err); err != nil {
			return res, err
		}
		cpu := e[1].server.CPU - e[0].server.CPU
		peak, hwm := sampler.Peak()
		res.Server = &ServerStats{
			PID: cfg.PID, CPUSeconds: cpu.Seconds(),
			PeakRSSMB: float64(peak) / (1 << 20), HWMMB: float64(hwm) / (1 << 20), Threads: e[1].server.Threads,
		}
		if res.OK > 0 {
			res.Server.CPUPerOK = micros(cpu) / float64(res.OK)
		}
	}
	if cfg.Timeline > 0 {
		var samples []ProcSample
		if sampler != nil {
			samples = sampler.Samples()
		}
		res.Timeline = timeline(stats, began, e[0].at, e[1].at, cfg.Timeline, samples)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if js != nil {
		cctx, cancel := context.WithTimeout(ctx, cfg.CheckTimeout)
		defer cancel()
		c, err := checkStream(cctx, js, &cfg.Target, ledgerOf(run, senders), start)
		res.Check = c
		if err != nil {
			return res, err
		}
		if !c.OK {
			return res, fmt.Errorf("%w: %d missing, %d duplicated, %d with other bytes, %d bad ids of %d acknowledged",
				ErrCheckFailed, c.Missing, c.Duplicates, c.BadBody, c.BadID, c.Acked)
		}
	}
	return res, nil
}

// newRun returns a fresh run number: the first part of a run's delivery ids.
func newRun() uint32 { return rand.Uint32() }

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// WriteText writes the result for a human.
func (r *LoadResult) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s  run %s  %d connections  %d-byte bodies  window %.2fs\n", r.URL, r.Run, r.Conns, r.BodySize, r.Window)
	fmt.Fprintf(w, "throughput   %.0f 2xx/s (%.0f answers/s)\n", r.Throughput, r.Rate)
	l := r.Latency
	fmt.Fprintf(w, "latency      p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n", l.P50, l.P90, l.P99, l.P999, l.Max)
	codes := make([]string, 0, len(r.Status))
	for c := range r.Status {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	fmt.Fprintf(w, "statuses    ")
	for _, c := range codes {
		fmt.Fprintf(w, " %s×%d", c, r.Status[c])
	}
	fmt.Fprintf(w, "  (whole run, %d sent, %d transport errors)\n", r.Sent, r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error  %s\n", r.FirstError)
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "server       pid %d  CPU %.2fs = %.1f µs per 2xx  peak RSS %.0f MB (VmHWM %.0f MB)  %d threads\n",
			s.PID, s.CPUSeconds, s.CPUPerOK, s.PeakRSSMB, s.HWMMB, s.Threads)
	}
	fmt.Fprintf(w, "client       %.1f µs CPU per answer\n", r.ClientCPU)
	if len(r.Timeline) > 0 {
		fmt.Fprintf(w, "timeline     %8s %10s %12s %8s\n", "from s", "2xx/s", "CPU µs/2xx", "RSS MB")
		for _, p := range r.Timeline {
			fmt.Fprintf(w, "             %8.1f %10.0f %12.1f %8.0f\n", p.From, p.Throughput, p.CPUPerOK, p.RSSMB)
		}
	}
	if c := r.Check; c != nil {
		verdict := "OK"
		if !c.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "stream check %s: %d acknowledged, %d stored, %d missing, %d duplicated, %d other bytes, %d bad ids, %d stored unacknowledged (%.1fs)\n",
			verdict, c.Acked, c.Stored, c.Missing, c.Duplicates, c.BadBody, c.BadID, c.Unacked, c.Seconds)
		for _, p := range c.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
}

// timeline cuts [from, to) into n parts and measures each from the per-slot counts and the
// server's readings (nil when there is no server to read).
func timeline(stats []senderStats, began, from, to time.Time, n int, samples []ProcSample) []TimelinePoint {
	// at returns the last reading at or before t.
	at := func(t time.Time) (ProcSample, bool) {
		i, _ := slices.BinarySearchFunc(samples, t, func(p ProcSample, t time.Time) int { return p.At.Compare(t) })
		if i < len(samples) && samples[i].At.Equal(t) {
			return samples[i], true
		}
		if i == 0 {
			return ProcSample{}, false
		}
		return samples[i-1], true
	}
	part := to.Sub(from) / time.Duration(n)
	if part < slot {
		return nil
	}
	var out []TimelinePoint
	for k := 0; k < n; k++ {
		a, b := from.Add(time.Duration(k)*part), from.Add(time.Duration(k+1)*part)
		var ok int64
		for i := range stats {
			ok += count(stats[i].ok, a.Sub(began), b.Sub(began))
		}
		// Counted in whole slots, as the answers are.
		secs := (time.Duration(int(b.Sub(began)/slot)-int(a.Sub(began)/slot)) * slot).Seconds()
		p := TimelinePoint{From: a.Sub(from).Seconds()}
		if secs > 0 {
			p.Throughput = float64(ok) / secs
		}
		if s0, ok0 := at(a); ok0 {
			if s1, ok1 := at(b); ok1 && ok > 0 {
				p.CPUPerOK = micros(s1.CPU-s0.CPU) / float64(ok)
			}
		}
		for _, s := range samples {
			if !s.At.Before(a) && s.At.Before(b) && float64(s.RSS)/(1<<20) > p.RSSMB {
				p.RSSMB = float64(s.RSS) / (1 << 20)
			}
		}
		out = append(out, p)
	}
	return out
}

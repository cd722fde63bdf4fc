package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

// ErrNotReady is returned when a server does not answer in time.
var ErrNotReady = errors.New("bench: server not ready")

// WaitReady polls url until it answers with a status below 500 (any answer from a server
// that is up; hookbus's /readyz answers 503 until NATS and the streams are ready), or
// until timeout.
func WaitReady(ctx context.Context, url string, timeout time.Duration) error {
	return waitStatus(ctx, url, timeout, 2*time.Millisecond, func(code int) bool { return code < 500 })
}

func waitStatus(ctx context.Context, url string, timeout, every time.Duration, ok func(int) bool) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s after %s: %s", ErrNotReady, url, timeout, last)
		}
		if !sleepUntil(ctx, time.Now().Add(every)) {
			return ctx.Err()
		}
	}
}

// StartupConfig describes timing a server's start: Argv is started Runs times, each time
// until Ready answers 200, then stopped with SIGTERM.
type StartupConfig struct {
	Argv    []string
	Dir     string        // working directory; the current one when empty
	Stderr  io.Writer     // the server's stderr; discarded when nil
	Ready   string        // URL that answers 200 once the server serves, e.g. /readyz
	Runs    int           // 3 when zero
	Timeout time.Duration // per start; 5m when zero
	Labels  map[string]string
}

// StartupResult is the time from exec to ready, per run and the median.
type StartupResult struct {
	Kind   string            `json:"kind"` // "startup"
	Labels map[string]string `json:"labels,omitempty"`
	Runs   []float64         `json:"runs_ms"`
	Median float64           `json:"median_ms"`
	StopMS []float64         `json:"stop_ms"` // SIGTERM to exit
	RSS    float64           `json:"rss_mb"`  // resident set once ready, last run
}

// Startup runs cfg.
func Startup(ctx context.Context, cfg StartupConfig) (*StartupResult, error) {
	if len(cfg.Argv) == 0 {
		return nil, errors.New("bench: startup: no command")
	}
	if cfg.Runs <= 0 {
		cfg.Runs = 3
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	res := &StartupResult{Kind: "startup", Labels: cfg.Labels}
	for i := 0; i < cfg.Runs; i++ {
		cmd := exec.Command(cfg.Argv[0], cfg.Argv[1:]...)
		cmd.Dir, cmd.Stderr = cfg.Dir, cfg.Stderr
		began := time.Now()
		if err := cmd.Start(); err != nil {
			return res, fmt.Errorf("bench: startup: %w", err)
		}
		wctx, cancel := context.WithCancel(ctx)
		exited := make(chan error, 1)
		go func() {
			err := cmd.Wait()
			cancel() // a server that exits is never ready
			exited <- err
		}()
		err := waitStatus(wctx, cfg.Ready, cfg.Timeout, time.Millisecond, func(code int) bool { return code == http.StatusOK })
		took := time.Since(began)
		if err != nil && ctx.Err() == nil && wctx.Err() != nil {
			err = fmt.Errorf("bench: startup: %s exited before it was ready", cfg.Argv[0])
		}
		if err == nil {
			if p, perr := ReadProc(cmd.Process.Pid); perr == nil {
				res.RSS = float64(p.RSS) / (1 << 20)
			}
		}
		stopped := time.Now()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			cancel()
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
			cancel()
			if err == nil {
				err = errors.New("bench: startup: the server did not stop within a minute of SIGTERM")
			}
		}
		res.StopMS = append(res.StopMS, float64(time.Since(stopped))/float64(time.Millisecond))
		if err != nil {
			return res, err
		}
		res.Runs = append(res.Runs, float64(took)/float64(time.Millisecond))
	}
	res.Median = median(res.Runs)
	return res, nil
}

// median returns the median of v (the mean of the middle two for an even count); 0 for
// none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

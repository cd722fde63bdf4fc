package relay

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyTimeout bounds the JetStream requests of one /readyz.
const readyTimeout = 2 * time.Second

// serveAdmin listens on addr and serves the operator endpoints until stop is called:
//
//	/metrics  Prometheus metrics
//	/healthz  200 while the process runs
//	/readyz   200 when NATS is connected and every consumer of the relay runs, 503 with
//	          the reason otherwise
//
// It returns an error naming admin.listen when addr cannot be bound.
func (r *Relay) serveAdmin(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay: admin.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		if why := r.ready(req.Context()); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      10 * time.Second,
	}
	r.mu.Lock()
	r.adminAddr = ln.Addr().String()
	r.mu.Unlock()
	r.log.Info().Str("admin", r.adminAddr).Msg("admin listening: /metrics, /healthz, /readyz")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error().Err(err).Msg("admin listener stopped")
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
		r.mu.Lock()
		r.adminAddr = ""
		r.mu.Unlock()
	}, nil
}

// AdminAddr is the address the admin listener is bound to, once Run has bound it; "" before,
// after Run returns, and when Config.Admin.Listen is "".
func (r *Relay) AdminAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.adminAddr
}

// ready returns "" when the relay is ready — NATS connected, every consumer started and
// still found on its streams — or why it is not. An endpoint disabled by a 410 has no
// consumer running and does not count.
func (r *Relay) ready(ctx context.Context) string {
	if !r.nc.IsConnected() {
		return "NATS not connected"
	}
	r.mu.Lock()
	running, live := r.running, maps.Clone(r.live)
	r.mu.Unlock()
	if !running {
		return "consumers not running (starting or stopping)"
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for _, name := range slices.Sorted(maps.Keys(live)) {
		for _, stream := range live[name] {
			if _, err := r.js.Consumer(ctx, stream, name); err != nil {
				return fmt.Sprintf("consumer %s on stream %s: %v", name, stream, err)
			}
		}
	}
	return ""
}

func (r *Relay) setRunning(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running = on
}

// setLive records that the agent of consumer name runs, with consumers on streams.
func (r *Relay) setLive(name string, streams []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live == nil {
		r.live = map[string][]string{}
	}
	r.live[name] = streams
}

// dropLive records that the agent of consumer name ended.
func (r *Relay) dropLive(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, name)
}

// streamsOf lists the streams that hold filters, each once: those an agent with these
// filters has a consumer on.
func streamsOf(filters []string) []string {
	var out []string
	for _, f := range filters {
		if s := subjects.StreamFor(f); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

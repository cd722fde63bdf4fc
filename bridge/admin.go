package bridge

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Admin serves the operator endpoints on their own address:
//
//	/healthz  200 while the process serves
//	/readyz   200 when NATS is connected, the WEBHOOKS stream answers and every check added
//	          with ReadyCheck passes (the dedupe index is caught up); 503 otherwise
//	/metrics  Prometheus metrics
//	/         the live console (see console.go) and its /api/…
type Admin struct {
	ln     net.Listener
	srv    *fasthttp.Server
	tails  chan struct{}
	once   sync.Once
	checks atomic.Pointer[[]func() error]
}

// ReadyCheck adds a condition of /readyz: while check returns an error, /readyz answers
// 503 with its text.
func (a *Admin) ReadyCheck(check func() error) {
	var checks []func() error
	if p := a.checks.Load(); p != nil {
		checks = append(checks, *p...)
	}
	checks = append(checks, check)
	a.checks.Store(&checks)
}

// NewAdmin listens on addr; m, when not nil, is served at /metrics in the Prometheus text
// format. It returns an error when the address cannot be bound.
func NewAdmin(addr string, nc *nats.Conn, js jetstream.JetStream, m *Metrics, log zerolog.Logger) (*Admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bridge: admin.listen: %w", err)
	}
	a := &Admin{ln: ln}
	con := &console{nc: nc, js: js, metrics: m, done: make(chan struct{})}
	a.tails = con.done
	var metrics fasthttp.RequestHandler
	if m != nil {
		metrics = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	}
	a.srv = &fasthttp.Server{
		Name:         "hookbus-admin",
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
		Logger:       fasthttpLogger{log},
		Handler: func(ctx *fasthttp.RequestCtx) {
			switch string(ctx.Path()) {
			case "/healthz":
				ctx.SetBodyString("ok\n")
			case "/readyz":
				why := ready(nc, js)
				if p := a.checks.Load(); p != nil && why == "" {
					for _, check := range *p {
						if err := check(); err != nil {
							why = err.Error()
							break
						}
					}
				}
				if why != "" {
					ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
					ctx.SetBodyString(why + "\n")
					return
				}
				ctx.SetBodyString("ready\n")
			case "/metrics":
				if metrics == nil {
					ctx.SetStatusCode(fasthttp.StatusNotFound)
					return
				}
				metrics(ctx)
			default:
				if !con.handle(ctx) {
					ctx.SetStatusCode(fasthttp.StatusNotFound)
				}
			}
		},
	}
	return a, nil
}

func ready(nc *nats.Conn, js jetstream.JetStream) string {
	if !nc.IsConnected() {
		return "NATS not connected"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, subjects.StreamWebhooks); err != nil {
		return "stream " + subjects.StreamWebhooks + ": " + err.Error()
	}
	return ""
}

// Addr is the bound address.
func (a *Admin) Addr() string { return a.ln.Addr().String() }

// Serve serves until Close, or returns at once after it.
func (a *Admin) Serve() { _ = a.srv.Serve(a.ln) }

// Close stops the admin listener. It closes the listener itself too: fasthttp's Shutdown
// closes only a listener its Serve has registered, so one Serve starts just after would
// keep it open.
func (a *Admin) Close() {
	a.once.Do(func() { close(a.tails) })
	_ = a.srv.Shutdown()
	_ = a.ln.Close()
}

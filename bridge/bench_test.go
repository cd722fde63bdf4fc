package bridge_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/bench"
	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// benchSecret signs the deliveries of the request-path benchmarks.
const benchSecret = "bench-secret"

// benchConfig is the default config's github source, nothing else.
const benchConfig = `
http: {listen: "127.0.0.1:0"}
admin: {listen: ""}
nats:
  embedded: {listen: "127.0.0.1:-1", store_dir: "${STORE}"}
sources:
  github:
    verify: github
    secrets: ["` + benchSecret + `"]
`

// BenchmarkRequestPath drives the ingress handler directly (no socket) with a signed 1 KiB
// GitHub delivery, a fresh delivery id each time, as bridge.Run wires it:
//
//   - jetstream: a real embedded JetStream joined in-process, with the dedupe index (the
//     default): verify, index lookup, publish and wait for the ack, index the event.
//   - jetstream-nohorizon: the same without the horizon (dedupe_horizon: 0s).
//   - jetstream-parallel: the first, 64 requests in flight at once.
//   - jetstream-parallel-natsgo: the same publishing through nats.go, as on an external
//     cluster, instead of the in-process connection of the embedded server.
//   - stub: a publisher that acknowledges at once, no horizon: the handler's own work.
//
// allocs/op counts every allocation in the process per request, the embedded NATS server's
// included (it runs in-process, as in hookbus serve); stub isolates the handler's.
func BenchmarkRequestPath(b *testing.B) {
	b.Run("jetstream", func(b *testing.B) {
		js, ns := benchJetStream(b)
		benchSerial(b, benchServer(b, benchPublisher(b, ns), benchHorizon(b, js)))
	})
	b.Run("jetstream-nohorizon", func(b *testing.B) {
		_, ns := benchJetStream(b)
		benchSerial(b, benchServer(b, benchPublisher(b, ns), nil))
	})
	b.Run("jetstream-parallel", func(b *testing.B) {
		js, ns := benchJetStream(b)
		benchParallel(b, benchServer(b, benchPublisher(b, ns), benchHorizon(b, js)))
	})
	b.Run("jetstream-parallel-natsgo", func(b *testing.B) {
		js, _ := benchJetStream(b)
		benchParallel(b, benchServer(b, benchNATSPublisher(b, js), benchHorizon(b, js)))
	})
	b.Run("stub", func(b *testing.B) {
		benchSerial(b, benchServer(b, &ackAtOnce{}, nil))
	})
}

// benchParallel serves requests from 64 goroutines at once on 2 cores.
func benchParallel(b *testing.B, handle fasthttp.RequestHandler) {
	var sender atomic.Uint32
	b.ReportAllocs()
	b.SetBytes(1024)
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		r := newBenchRequest(b, uint16(sender.Add(1)))
		for pb.Next() {
			r.serve(b, handle)
		}
	})
}

func benchSerial(b *testing.B, handle fasthttp.RequestHandler) {
	r := newBenchRequest(b, 0)
	r.serve(b, handle)
	b.ReportAllocs()
	b.SetBytes(1024)
	for b.Loop() {
		r.serve(b, handle)
	}
}

// benchJetStream starts an embedded server and joins it in-process, as bridge.Run does.
func benchJetStream(b *testing.B) (jetstream.JetStream, *embedded.Server) {
	b.Helper()
	ns := embeddedtest.Start(b)
	_, js := embeddedtest.Connect(b, ns, ns.InProcess())
	if err := bridge.EnsureStreams(context.Background(), js, subjects.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	return js, ns
}

// benchPublisher is the publisher bridge.Run gives the ingress on its embedded server.
func benchPublisher(b *testing.B, ns *embedded.Server) bridge.Publisher {
	b.Helper()
	p, err := bridge.NewInProcessPublisher(ns.InProcessConn, "", "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// benchNATSPublisher is the publisher bridge.Run gives the ingress on an external cluster,
// here joined to the embedded server through nats.go.
func benchNATSPublisher(b *testing.B, js jetstream.JetStream) bridge.Publisher {
	b.Helper()
	p, err := bridge.NewStreamPublisher(js.Conn())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

func benchHorizon(b *testing.B, js jetstream.JetStream) bridge.Horizon {
	b.Helper()
	// As bridge.Run on its embedded server: the index learns the ingress's own events.
	return openHorizonWith(b, js, bridge.HorizonOptions{Dir: b.TempDir(), Horizon: 72 * time.Hour})
}

func benchServer(b *testing.B, pub bridge.Publisher, horizon bridge.Horizon) fasthttp.RequestHandler {
	b.Helper()
	cfg, err := config.Parse("bench.yaml", []byte(benchConfig), func(k string) (string, bool) {
		if k == "STORE" {
			return b.TempDir(), true
		}
		return "", false
	})
	if err != nil {
		b.Fatal(err)
	}
	var opts []bridge.Option
	if horizon != nil {
		opts = append(opts, bridge.WithHorizon(horizon))
	}
	srv, err := bridge.New(cfg, pub, zerolog.Nop(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	return srv.Handler()
}

// benchRequest is one reusable request: the body and its signature stay; each serve sends
// the next delivery id.
type benchRequest struct {
	ctx  fasthttp.RequestCtx
	id   bench.DeliveryID
	idAt []byte
}

func newBenchRequest(b *testing.B, sender uint16) *benchRequest {
	b.Helper()
	p, err := bench.NewPayload(1024, benchSecret)
	if err != nil {
		b.Fatal(err)
	}
	r := &benchRequest{id: bench.DeliveryID{Run: 1, Sender: sender}}
	body, sig := p.Build([]byte(r.id.String()), 0)
	var req fasthttp.Request
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("/webhooks/github")
	req.Header.SetContentType("application/json")
	req.Header.Set("X-GitHub-Event", "issues")
	req.Header.SetBytesV("X-Hub-Signature-256", sig)
	req.SetBody(body)
	r.ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	return r
}

func (r *benchRequest) serve(b *testing.B, handle fasthttp.RequestHandler) {
	r.id.N++
	r.idAt = r.id.Append(r.idAt[:0])
	r.ctx.Request.Header.SetBytesV("X-GitHub-Delivery", r.idAt)
	r.ctx.Response.Reset()
	handle(&r.ctx)
	if code := r.ctx.Response.StatusCode(); code != fasthttp.StatusOK {
		b.Fatalf("status %d: %s", code, r.ctx.Response.Body())
	}
}

// ackAtOnce acknowledges every message without storing it.
type ackAtOnce struct{ ack jetstream.PubAck }

func (p *ackAtOnce) PublishMsg(context.Context, *nats.Msg, ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	p.ack.Sequence++
	return &p.ack, nil
}

package agents_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/agentstest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkNoopHandler measures one agent with a handler that does nothing, at the default
// settings, over b.N stored webhook events (the SDK and an in-process server together: its
// profile shows both).
//
//	AGENTS_BENCH_CPUPROFILE=cpu.out go test -run '^$' -bench NoopHandler/concurrency=1 -benchmem ./agents/
func BenchmarkNoopHandler(b *testing.B) {
	for _, c := range []int{1, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) {
			srv := agentstest.Start(b)
			nc := srv.Connect(b)
			js, _ := jetstream.New(nc)
			body := make([]byte, 1024)
			var acks []jetstream.PubAckFuture
			for i := range b.N {
				msg := &nats.Msg{Subject: subjects.Webhook("github", "issues.opened"), Data: body, Header: nats.Header{
					subjects.HeaderSpecVersion: {subjects.SpecVersion},
					subjects.HeaderID:          {fmt.Sprintf("github:%d", i)},
					subjects.HeaderMsgID:       {fmt.Sprintf("github:%d", i)},
					subjects.HeaderSource:      {"/webhooks/github"},
					subjects.HeaderType:        {"issues.opened"},
					subjects.HeaderTime:        {time.Now().UTC().Format(time.RFC3339Nano)},
				}}
				f, err := js.PublishMsgAsync(msg)
				if err != nil {
					b.Fatal(err)
				}
				acks = append(acks, f)
			}
			for _, f := range acks {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			done := make(chan struct{})
			a, err := agents.New(nc, agents.Config{
				Name: "bench", Subjects: []string{"webhooks.>"}, Concurrency: c,
				Handler: agents.HandlerFunc(func(context.Context, *agents.Event) error {
					if n.Add(1) == int64(b.N) {
						close(done)
					}
					return nil
				}),
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if f := os.Getenv("AGENTS_BENCH_CPUPROFILE"); f != "" {
				// The profile of the handling alone, without storing the events first.
				out, err := os.Create(f)
				if err != nil {
					b.Fatal(err)
				}
				if err := pprof.StartCPUProfile(out); err != nil {
					b.Fatal(err)
				}
				defer func() { pprof.StopCPUProfile(); _ = out.Close() }()
			}
			b.ReportAllocs()
			b.ResetTimer()
			ran := make(chan error, 1)
			go func() { ran <- a.Run(ctx) }()
			select {
			case <-done:
			case err := <-ran:
				b.Fatalf("Run: %v", err)
			}
			b.StopTimer()
			cancel()
			if err := <-ran; err != nil {
				b.Fatal(err)
			}
		})
	}
}

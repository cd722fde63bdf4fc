package agents_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// exampleServer starts a throwaway JetStream server with the hookbus streams.
func exampleServer() (*server.Server, *nats.Conn, func()) {
	dir, _ := os.MkdirTemp("", "hookbus-example-")
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		panic(err)
	}
	go ns.Start()
	ns.ReadyForConnections(10 * time.Second)
	nc, _ := nats.Connect(ns.ClientURL())
	js, _ := jetstream.New(nc)
	for _, sc := range subjects.Streams(subjects.StreamOptions{}) {
		if _, err := js.CreateStream(context.Background(), sc); err != nil {
			panic(err)
		}
	}
	return ns, nc, func() { nc.Close(); ns.Shutdown(); ns.WaitForShutdown(); os.RemoveAll(dir) }
}

// An agent that reacts to GitHub issue webhooks and emits an event of its own.
func ExampleAgent_Run() {
	_, nc, stop := exampleServer()
	defer stop()

	handled := make(chan string)
	a, err := agents.New(nc, agents.Config{
		Name:     "triage",
		Subjects: []string{"webhooks.github.issues.>"},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			em, err := ev.Emit(ctx, "issue.triaged", []byte(`{"priority":"high"}`))
			if err != nil {
				return err // redelivered after a backoff
			}
			handled <- ev.Type + " -> " + em.Subject
			return nil // acknowledged
		}),
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()

	js, _ := jetstream.New(nc)
	msg := nats.NewMsg(subjects.Webhook("github", "issues.opened"))
	msg.Header.Set(subjects.HeaderID, "github:1")
	msg.Header.Set(subjects.HeaderType, "issues.opened")
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		panic(err)
	}
	fmt.Println(<-handled)
	cancel()
	fmt.Println(<-done)
	// Output:
	// issues.opened -> agents.triage.events.issue.triaged
	// <nil>
}

// A handler error that no retry can fix goes to the dead-letter stream at once.
func ExamplePermanent() {
	err := agents.Permanent(fmt.Errorf("unsupported payload version %d", 0))
	fmt.Println(err, errors.Is(err, agents.ErrPermanent))
	// Output: unsupported payload version 0 true
}

// Package agents is the hookbus agent SDK. An agent is an independent process that consumes
// events from the bus — verified webhooks under webhooks.> and other agents' events under
// agents.> — reacts to them, and emits events of its own under agents.<name>.events.>.
//
// A Go program becomes an agent in a few lines:
//
//	agents.Main(agents.Config{
//		Name:     "triage",
//		Subjects: []string{"webhooks.github.issues.>"},
//		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
//			_, err := ev.Emit(ctx, "issue.triaged", []byte(`{"priority":"high"}`))
//			return err
//		}),
//	})
//
// Each agent has one durable JetStream pull consumer per stream it reads, named after the
// agent, so a restarted agent resumes where it stopped. Acknowledgement is explicit:
//
//   - the handler returns nil: the event is acknowledged (without waiting for the server to
//     confirm: a lost acknowledgement is one more delivery);
//   - the handler returns an error or panics: the event is redelivered after a backoff;
//   - the process dies before the acknowledgement: the event is redelivered after AckWait.
//
// An agent fetches events ahead of its handlers (Config.MaxAckPending), so that a handler
// takes the next event at once; the events waiting for a handler keep their lease, and a
// stopping agent hands them back to the server unhandled.
//
// So a handler may run more than once for one event. Events it emits get ids derived from
// the event being handled (subjects.DerivedID), and the stream drops a repeat of an id, so a
// handler that runs again emits nothing new. Side effects outside the bus must be made
// idempotent by the handler itself (key them by Event.ID).
package agents

// Package ops holds the operator's recovery tools behind the hookbus CLI: listing agents
// and their backlog, rewinding one agent's consumers, replaying a bounded range of events,
// inspecting and redriving dead letters, following events live, and sending a signed
// sample webhook to a running bridge.
//
// Every tool is a function of a jetstream.JetStream (or *nats.Conn) and an options
// struct, returning a result, so it runs the same from the CLI, a test or another
// program. Tools that change something validate every argument first and change nothing
// when one is wrong (errors wrapping ErrInvalid, ErrUnknownAgent and the like).
//
// Three ways to have events handled again, and what an agent sees of each:
//
//   - Rewind moves an agent's durable consumers back to a stream sequence (the consumer
//     reset of JetStream, which keeps the consumer and its configuration). The agent gets
//     the original messages again: same ids, Event.Replay false, Event.Attempt from 1.
//     Event.Once skips steps it recorded as done, and events it emits get the ids they
//     got the first time. No other agent is touched. A running agent receives them at
//     once; a stopped one when it starts.
//   - Replay publishes copies of a range of stored events, to their own subject (every
//     agent consuming it), to one agent (its replay subject, agents.<agent>.replay.<…>,
//     which the agent SDK reads by itself and hands to the handler under the original
//     subject), or to another subject. Copies keep the event's ce-id and envelope, carry
//     Hookbus-Replay: true and the replay headers of this package (HeaderReplayOf, …),
//     and a new Nats-Msg-Id derived from the run and the original id, so the stream
//     stores them and a repeated run (same run id) stores each once.
//   - Redrive hands dead letters back to their agent the same way: a copy marked as a
//     replay, then the dead letter is deleted.
package ops

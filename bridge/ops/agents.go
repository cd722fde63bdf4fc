package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

// hookbusStreams are the streams whose durable consumers can be agents, in the order the
// tools report them.
var hookbusStreams = []string{subjects.StreamWebhooks, subjects.StreamAgents, subjects.StreamDLQ}

// Agent is one agent as its durable consumers show it.
type Agent struct {
	Name string `json:"agent"`
	// Consumers are its durable consumers, one per stream it reads; none for an agent that
	// only has dead letters left.
	Consumers []Consumer `json:"consumers"`
	// Totals over the consumers.
	Pending     uint64 `json:"pending"`
	AckPending  int    `json:"ack_pending"`
	Redelivered int    `json:"redelivered"`
	// LastActive is the latest delivery or acknowledgement of any of its consumers.
	LastActive time.Time `json:"last_active,omitzero"`
	// Pulling is true while some process of the agent waits for events (a running agent).
	Pulling bool `json:"pulling"`
	// DeadLetters counts the messages on dlq.<agent>.
	DeadLetters uint64 `json:"dead_letters"`
}

// Consumer is the state of one durable consumer of an agent.
type Consumer struct {
	Stream  string   `json:"stream"`
	Filters []string `json:"filters"`
	// Pending: stored, matching, not yet delivered. AckPending: delivered, not yet
	// acknowledged. Redelivered: delivered more than once and not yet acknowledged.
	Pending     uint64 `json:"pending"`
	AckPending  int    `json:"ack_pending"`
	Redelivered int    `json:"redelivered"`
	// Waiting counts the pull requests open now: more than zero while the agent runs.
	Waiting int `json:"waiting"`
	// Delivered is the stream sequence of the last delivery; AckFloor the one below which
	// everything is acknowledged.
	Delivered  uint64    `json:"delivered_seq"`
	AckFloor   uint64    `json:"ack_floor_seq"`
	LastActive time.Time `json:"last_active,omitzero"`
	Paused     bool      `json:"paused,omitempty"`
}

// filters returns the subject filters of a consumer configuration.
func filters(cc jetstream.ConsumerConfig) []string {
	if len(cc.FilterSubjects) > 0 {
		return cc.FilterSubjects
	}
	if cc.FilterSubject != "" {
		return []string{cc.FilterSubject}
	}
	return nil
}

func consumerOf(info *jetstream.ConsumerInfo) Consumer {
	c := Consumer{
		Stream: info.Stream, Filters: filters(info.Config),
		Pending: info.NumPending, AckPending: info.NumAckPending, Redelivered: info.NumRedelivered,
		Waiting: info.NumWaiting, Delivered: info.Delivered.Stream, AckFloor: info.AckFloor.Stream,
		Paused: info.Paused,
	}
	for _, t := range []*time.Time{info.Delivered.Last, info.AckFloor.Last} {
		if t != nil && t.After(c.LastActive) {
			c.LastActive = *t
		}
	}
	return c
}

// isAgentConsumer reports whether a consumer is an agent's: durable, named like an agent.
func isAgentConsumer(info *jetstream.ConsumerInfo) bool {
	return info.Config.Durable != "" && subjects.ValidName(info.Config.Durable) == nil
}

// Agents lists every agent: each durable consumer named like an agent (subjects.ValidName)
// on the WEBHOOKS, AGENTS and DLQ streams, grouped by name, with its backlog, and its
// dead letters; also agents that have dead letters but no consumer any more. Agents are
// sorted by name. It returns ErrNoStreams when none of the streams exists.
func Agents(ctx context.Context, js jetstream.JetStream) ([]Agent, error) {
	byName := map[string]*Agent{}
	get := func(name string) *Agent {
		a := byName[name]
		if a == nil {
			a = &Agent{Name: name, Consumers: []Consumer{}}
			byName[name] = a
		}
		return a
	}
	found := 0
	for _, name := range hookbusStreams {
		s, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		found++
		l := s.ListConsumers(ctx)
		for info := range l.Info() {
			if !isAgentConsumer(info) {
				continue
			}
			a := get(info.Config.Durable)
			c := consumerOf(info)
			a.Consumers = append(a.Consumers, c)
			a.Pending += c.Pending
			a.AckPending += c.AckPending
			a.Redelivered += c.Redelivered
			a.Pulling = a.Pulling || c.Waiting > 0
			if c.LastActive.After(a.LastActive) {
				a.LastActive = c.LastActive
			}
		}
		if err := l.Err(); err != nil {
			return nil, fmt.Errorf("consumers of %s: %w", name, err)
		}
		if name == subjects.StreamDLQ {
			info, err := s.Info(ctx, jetstream.WithSubjectFilter(subjects.DLQRoot+".>"))
			if err != nil {
				return nil, fmt.Errorf("stream %s: %w", name, err)
			}
			for subj, n := range info.State.Subjects {
				if agent, ok := strings.CutPrefix(subj, subjects.DLQRoot+"."); ok && n > 0 {
					get(agent).DeadLetters = n
				}
			}
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("%w: none of %s exists on this server", ErrNoStreams, strings.Join(hookbusStreams, ", "))
	}
	out := make([]Agent, 0, len(byName))
	for _, a := range byName {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Agent) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// agentConsumers returns the consumer infos of agent on the hookbus streams, in stream
// order; the error wraps ErrUnknownAgent, naming the agents there are, when it has none.
func agentConsumers(ctx context.Context, js jetstream.JetStream, agent string) ([]*jetstream.ConsumerInfo, error) {
	if err := subjects.ValidName(agent); err != nil {
		return nil, fmt.Errorf("%w: agent: %w", ErrInvalid, err)
	}
	var out []*jetstream.ConsumerInfo
	for _, stream := range hookbusStreams {
		c, err := js.Consumer(ctx, stream, agent)
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("consumer %s on %s: %w", agent, stream, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("consumer %s on %s: %w", agent, stream, err)
		}
		out = append(out, info)
	}
	if len(out) == 0 {
		return nil, unknownAgent(ctx, js, agent)
	}
	return out, nil
}

// unknownAgent builds the ErrUnknownAgent error for agent, listing the known agents.
func unknownAgent(ctx context.Context, js jetstream.JetStream, agent string) error {
	var names []string
	if all, err := Agents(ctx, js); err == nil {
		for _, a := range all {
			if len(a.Consumers) > 0 {
				names = append(names, a.Name)
			}
		}
	}
	known := "there are none"
	if len(names) > 0 {
		known = "known: " + strings.Join(names, ", ")
	}
	return fmt.Errorf("%w %q: no durable consumer of that name on %s (%s)", ErrUnknownAgent, agent,
		strings.Join(hookbusStreams, ", "), known)
}

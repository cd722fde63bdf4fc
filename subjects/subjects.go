package subjects

import (
	"fmt"
	"strings"
)

// Roots of the subject hierarchy.
const (
	// WebhooksRoot is the first token of every ingress subject.
	WebhooksRoot = "webhooks"
	// AgentsRoot is the first token of every agent subject.
	AgentsRoot = "agents"
	// DLQRoot is the first token of every dead-letter subject.
	DLQRoot = "dlq"
	// WebhooksBarrier is a subject of the WEBHOOKS stream that never holds an event (no
	// source name starts with '_'): a bridge purges it as a barrier, to learn that every
	// publish the stream accepted before has been committed or dropped.
	WebhooksBarrier = WebhooksRoot + "._barrier"

	eventsToken = "events"
	tasksToken  = "tasks"
	replayToken = "replay"
)

// Limits on outside tokens. Longer input is cut, not rejected, so a provider can never make
// the bridge refuse a genuine delivery by the shape of its event type.
const (
	// MaxTokenLen is the longest token written from outside input, in bytes.
	MaxTokenLen = 64
	// MaxEventTokens is the most tokens an outside event type contributes to a subject.
	MaxEventTokens = 8
	// EmptyToken stands in for an empty or entirely unusable outside token.
	EmptyToken = "_"
)

// Token reduces one outside value to a safe subject token: bytes outside [A-Za-z0-9_-] become
// '_', the result is cut to MaxTokenLen bytes, and an empty result is EmptyToken. The result
// can never contain '.', '*', '>' or whitespace.
func Token(s string) string {
	if s == "" {
		return EmptyToken
	}
	if len(s) > MaxTokenLen {
		s = s[:MaxTokenLen]
	}
	if clean(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !tokenByte(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			return false
		}
	}
	return true
}

// ValidName reports whether name may be used as a configured source, agent or task-kind name:
// 1 to 64 bytes of lowercase letters, digits, '_' and '-', starting with a letter or digit. It
// returns an error wrapping ErrInvalidName that quotes the name otherwise.
func ValidName(name string) error {
	if name == "" || len(name) > MaxTokenLen {
		return fmt.Errorf("%w %q: want 1 to %d bytes", ErrInvalidName, name, MaxTokenLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '_' || c == '-'))
		if !ok {
			return fmt.Errorf("%w %q: want [a-z0-9][a-z0-9_-]*", ErrInvalidName, name)
		}
	}
	return nil
}

// appendEvent appends the tokens of a dot-separated outside event type to b, each sanitised,
// at most MaxEventTokens of them; tokens past the limit are folded into the last one.
func appendEvent(b *strings.Builder, event string) {
	if event == "" {
		b.WriteByte('.')
		b.WriteString(EmptyToken)
		return
	}
	for n := 1; ; n++ {
		tok, rest, more := strings.Cut(event, ".")
		if n == MaxEventTokens {
			tok, more = event, false
		}
		b.WriteByte('.')
		b.WriteString(Token(tok))
		if !more {
			return
		}
		event = rest
	}
}

// Webhook returns the ingress subject for an event of a configured source:
// Webhook("github", "issues.opened") is "webhooks.github.issues.opened". The source is a
// configured name (see ValidName) and is sanitised like any token all the same; the event
// type is outside input: its dots separate tokens, and each token is sanitised with Token.
func Webhook(source, event string) string {
	var b strings.Builder
	b.Grow(len(WebhooksRoot) + len(source) + len(event) + 3)
	b.WriteString(WebhooksRoot)
	b.WriteByte('.')
	b.WriteString(Token(source))
	appendEvent(&b, event)
	return b.String()
}

// AgentEvent returns the subject of an event that agent emits: AgentEvent("triage",
// "issue.triaged") is "agents.triage.events.issue.triaged". The type's dots separate tokens,
// each sanitised with Token.
func AgentEvent(agent, typ string) string {
	var b strings.Builder
	b.Grow(len(AgentsRoot) + len(agent) + len(eventsToken) + len(typ) + 4)
	b.WriteString(AgentsRoot)
	b.WriteByte('.')
	b.WriteString(Token(agent))
	b.WriteByte('.')
	b.WriteString(eventsToken)
	appendEvent(&b, typ)
	return b.String()
}

// AgentEvents returns the filter matching every event of agent: "agents.<agent>.events.>".
func AgentEvents(agent string) string {
	return AgentsRoot + "." + Token(agent) + "." + eventsToken + ".>"
}

// Task returns the inbox subject of tasks of a kind delegated to agent:
// "agents.<agent>.tasks.<kind>".
func Task(agent, kind string) string {
	return AgentsRoot + "." + Token(agent) + "." + tasksToken + "." + Token(kind)
}

// DLQ returns the dead-letter subject of agent: "dlq.<agent>".
func DLQ(agent string) string {
	return DLQRoot + "." + Token(agent)
}

// Replay returns the subject of a copy of an event stored under subject, sent to agent
// alone by a replay or a dead-letter redrive: Replay("triage", "webhooks.github.issues.opened")
// is "agents.triage.replay.webhooks.github.issues.opened". It lies in the AGENTS stream. The
// agent SDK reads Replays(agent) by itself and hands such a copy to the handler under the
// original subject.
func Replay(agent, subject string) string {
	return AgentsRoot + "." + Token(agent) + "." + replayToken + "." + subject
}

// Replays returns the filter matching every copy sent to agent alone:
// "agents.<agent>.replay.>".
func Replays(agent string) string {
	return AgentsRoot + "." + Token(agent) + "." + replayToken + ".>"
}

// Parsed is a subject taken apart by Parse.
type Parsed struct {
	// Root is WebhooksRoot, AgentsRoot or DLQRoot.
	Root string
	// Owner is the source of a webhook subject, or the agent of an agent or dead-letter subject.
	Owner string
	// Kind is "events", "tasks" or "replay" for agent subjects, "" otherwise.
	Kind string
	// Type is the dot-joined rest: the event type of a webhook or agent event, the task kind
	// of a task, the original subject of a copy sent to one agent (see Replay); "" for a
	// dead-letter subject.
	Type string
}

// Parse takes a concrete (non-wildcard) hookbus subject apart. It returns an error wrapping
// ErrInvalidSubject, quoting the subject, when the subject has an unknown root, too few
// tokens, an empty token or a wildcard.
func Parse(subject string) (Parsed, error) {
	bad := func(why string) (Parsed, error) {
		return Parsed{}, fmt.Errorf("%w %q: %s", ErrInvalidSubject, subject, why)
	}
	toks := strings.Split(subject, ".")
	for _, t := range toks {
		if t == "" || t == "*" || t == ">" {
			return bad("empty or wildcard token")
		}
		if strings.ContainsAny(t, " \t\r\n") {
			return bad("whitespace in token")
		}
	}
	switch toks[0] {
	case WebhooksRoot:
		if len(toks) < 3 {
			return bad("want webhooks.<source>.<event…>")
		}
		return Parsed{Root: WebhooksRoot, Owner: toks[1], Type: strings.Join(toks[2:], ".")}, nil
	case AgentsRoot:
		if len(toks) >= 4 && toks[2] == replayToken {
			original := strings.Join(toks[3:], ".")
			if _, err := Parse(original); err != nil {
				return bad("want agents.<agent>.replay.<hookbus subject>")
			}
			return Parsed{Root: AgentsRoot, Owner: toks[1], Kind: replayToken, Type: original}, nil
		}
		if len(toks) < 4 || (toks[2] != eventsToken && toks[2] != tasksToken) {
			return bad("want agents.<agent>.events|tasks|replay.<…>")
		}
		if toks[2] == tasksToken && len(toks) != 4 {
			return bad("want agents.<agent>.tasks.<kind>")
		}
		return Parsed{Root: AgentsRoot, Owner: toks[1], Kind: toks[2], Type: strings.Join(toks[3:], ".")}, nil
	case DLQRoot:
		if len(toks) != 2 {
			return bad("want dlq.<agent>")
		}
		return Parsed{Root: DLQRoot, Owner: toks[1]}, nil
	}
	return bad("unknown root")
}

// RPCRoot is the first token of request/reply subjects. They lie outside every stream: a
// request is answered by a running agent or not at all, never stored.
const RPCRoot = "rpc"

// RPC returns the subject on which agent answers quick requests of a kind:
// "rpc.<agent>.<kind>".
func RPC(agent, kind string) string {
	return RPCRoot + "." + Token(agent) + "." + Token(kind)
}

// Task states, named after the A2A task lifecycle where they overlap.
const (
	TaskSubmitted = "submitted"
	TaskWorking   = "working"
	TaskCompleted = "completed"
	TaskFailed    = "failed"
	TaskTimedOut  = "timed_out"
)

// TaskStatus returns the subject of a status event that worker emits about a task that
// requester delegated: "agents.<worker>.events.task.<requester>.<state>". It is an event of
// the worker, so the worker publishes only under its own subjects.
func TaskStatus(worker, requester, state string) string {
	return AgentsRoot + "." + Token(worker) + "." + eventsToken + ".task." + Token(requester) + "." + Token(state)
}

// TaskStatuses returns the filter matching every status event about tasks that requester
// delegated, from any worker: "agents.*.events.task.<requester>.>".
func TaskStatuses(requester string) string {
	return AgentsRoot + ".*." + eventsToken + ".task." + Token(requester) + ".>"
}

// Tasks returns the filter matching every task delegated to agent: "agents.<agent>.tasks.>".
func Tasks(agent string) string {
	return AgentsRoot + "." + Token(agent) + "." + tasksToken + ".>"
}

package agents

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
)

// ReplyHandler answers one quick request. Its error is sent back to the asker as the
// Hookbus-Error header; nothing is stored or retried.
type ReplyHandler func(ctx context.Context, data []byte) ([]byte, error)

var (
	// ErrNoAgent is returned by Ask when no instance of the agent answers that kind.
	ErrNoAgent = errors.New("agents: no agent answers")
	// ErrRemote wraps the error a ReplyHandler returned.
	ErrRemote = errors.New("agents: remote error")
)

// DefaultAskTimeout bounds Ask when ctx has no deadline.
const DefaultAskTimeout = 5 * time.Second

// serveReplies subscribes the Replies handlers on rpc.<name>.<kind>, in a queue group named
// after the agent so each request is answered by one instance.
func (a *Agent) serveReplies(ctx context.Context) (stop func(), err error) {
	if len(a.cfg.Replies) == 0 {
		return func() {}, nil
	}
	sub, err := a.nc.QueueSubscribe(subjects.RPCRoot+"."+a.name+".*", a.name, func(m *nats.Msg) {
		kind := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		h := a.cfg.Replies[kind]
		reply := nats.NewMsg(m.Reply)
		if h == nil {
			reply.Header.Set(subjects.HeaderError, fmt.Sprintf("agent %s does not answer %q", a.name, kind))
		} else {
			data, err := callReply(ctx, h, m.Data)
			if err != nil {
				reply.Header.Set(subjects.HeaderError, printable(err.Error()))
			}
			reply.Data = data
		}
		if err := m.RespondMsg(reply); err != nil {
			a.log.Warn().Err(err).Str("kind", kind).Msg("reply not sent")
		}
	})
	if err != nil {
		return nil, fmt.Errorf("agents: %s: replies: %w", a.name, err)
	}
	return func() { _ = sub.Drain() }, nil
}

func callReply(ctx context.Context, h ReplyHandler, data []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return h(ctx, data)
}

// Ask sends a quick request of kind to agent and waits for its answer, at most until ctx's
// deadline (DefaultAskTimeout when it has none). It returns ErrNoAgent when no instance is
// running, an error wrapping ErrRemote with the handler's error text, or ctx's error on
// timeout. Requests are not stored: use Delegate for work that must survive restarts.
func Ask(ctx context.Context, nc *nats.Conn, agent, kind string, data []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultAskTimeout)
		defer cancel()
	}
	msg := nats.NewMsg(subjects.RPC(agent, kind))
	msg.Data = data
	resp, err := nc.RequestMsgWithContext(ctx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("%w: %s %s", ErrNoAgent, agent, kind)
	case err != nil:
		return nil, fmt.Errorf("agents: ask %s %s: %w", agent, kind, err)
	}
	if e := resp.Header.Get(subjects.HeaderError); e != "" {
		return resp.Data, fmt.Errorf("%w: %s", ErrRemote, e)
	}
	return resp.Data, nil
}

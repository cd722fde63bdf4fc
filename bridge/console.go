package bridge

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookbus/hookbus/bridge/ops"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"
)

//go:embed console/*
var consoleFiles embed.FS

// console serves the live operator page at / of the admin listener and its JSON API:
//
//	GET  /api/sources          per source: counts by outcome
//	GET  /api/agents           per agent: pending, ack pending, redelivered, dead letters
//	GET  /api/tail             server-sent events: every event stored from now on
//	GET  /api/chain?id=ID      the events of one correlation chain, causes before effects
//	GET  /api/dlq              dead letters with their reasons
//	POST /api/dlq/redrive?seq=N  hands one dead letter back to its agent (ops.Redrive)
type console struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	metrics *Metrics
	done    chan struct{} // closed when the admin listener stops: ends live tails
}

func (c *console) handle(ctx *fasthttp.RequestCtx) bool {
	path := string(ctx.Path())
	switch {
	case path == "/" || path == "/index.html":
		c.file(ctx, "console/index.html", "text/html; charset=utf-8")
	case path == "/console.js":
		c.file(ctx, "console/console.js", "text/javascript; charset=utf-8")
	case path == "/api/sources":
		c.json(ctx, c.sources())
	case path == "/api/agents":
		c.json(ctx, c.agentRows())
	case path == "/api/tail":
		c.tail(ctx)
	case path == "/api/chain":
		c.jsonOr(ctx)(c.chain(string(ctx.QueryArgs().Peek("id"))))
	case path == "/api/dlq":
		c.jsonOr(ctx)(c.deadLetters())
	case path == "/api/dlq/redrive":
		if !ctx.IsPost() {
			ctx.Response.Header.Set(fasthttp.HeaderAllow, fasthttp.MethodPost)
			ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
			return true
		}
		seq, err := strconv.ParseUint(string(ctx.QueryArgs().Peek("seq")), 10, 64)
		if err != nil || seq == 0 {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			c.json(ctx, map[string]string{"error": "seq: want a dead letter's sequence"})
			return true
		}
		c.redrive(ctx, seq)
	default:
		return false
	}
	return true
}

func (c *console) file(ctx *fasthttp.RequestCtx, name, ct string) {
	b, err := consoleFiles.ReadFile(name)
	if err != nil {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	ctx.SetContentType(ct)
	ctx.SetBody(b)
}

func (c *console) json(ctx *fasthttp.RequestCtx, v any) {
	ctx.SetContentType("application/json")
	_ = json.NewEncoder(ctx).Encode(v)
}

func (c *console) jsonOr(ctx *fasthttp.RequestCtx) func(any, error) {
	return func(v any, err error) {
		if err != nil {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				ctx.SetStatusCode(fasthttp.StatusNotFound)
			}
			c.json(ctx, map[string]string{"error": err.Error()})
			return
		}
		c.json(ctx, v)
	}
}

// sources sums the request counter by source and outcome.
func (c *console) sources() map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	if c.metrics == nil {
		return out
	}
	families, _ := c.metrics.Registry.Gather()
	for _, f := range families {
		if f.GetName() != "hookbus_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			src, outcome := label(m, "source"), label(m, "outcome")
			if v := m.GetCounter().GetValue(); v > 0 {
				if out[src] == nil {
					out[src] = map[string]float64{}
				}
				out[src][outcome] = v
			}
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// agentRow is one agent in the console.
type agentRow struct {
	Agent       string `json:"agent"`
	Stream      string `json:"stream"`
	Pending     uint64 `json:"pending"`
	AckPending  int    `json:"ack_pending"`
	Redelivered int    `json:"redelivered"`
	DeadLetters uint64 `json:"dead_letters"`
}

func (c *console) agentRows() []agentRow {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var rows []agentRow
	dead := map[string]uint64{}
	if dlq, err := c.js.Stream(ctx, subjects.StreamDLQ); err == nil {
		if info, err := dlq.Info(ctx, jetstream.WithSubjectFilter(subjects.DLQRoot+".>")); err == nil {
			for subj, n := range info.State.Subjects {
				dead[strings.TrimPrefix(subj, subjects.DLQRoot+".")] = n
			}
		}
	}
	for _, stream := range []string{subjects.StreamWebhooks, subjects.StreamAgents} {
		s, err := c.js.Stream(ctx, stream)
		if err != nil {
			continue
		}
		l := s.ListConsumers(ctx)
		for info := range l.Info() {
			if name := info.Config.Durable; name != "" && subjects.ValidName(name) == nil {
				rows = append(rows, agentRow{Agent: name, Stream: stream, Pending: info.NumPending,
					AckPending: info.NumAckPending, Redelivered: info.NumRedelivered, DeadLetters: dead[name]})
			}
		}
	}
	return rows
}

// eventView is an event as the console shows it.
type eventView struct {
	Stream      string    `json:"stream,omitempty"`
	Seq         uint64    `json:"seq,omitempty"`
	Subject     string    `json:"subject"`
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	Time        time.Time `json:"time"`
	Causation   string    `json:"causation,omitempty"`
	Correlation string    `json:"correlation,omitempty"`
	Size        int       `json:"size"`
	Preview     string    `json:"preview"`
	Reason      string    `json:"reason,omitempty"`
}

func view(subject string, h nats.Header, data []byte) eventView {
	t, _ := time.Parse(time.RFC3339Nano, h.Get(subjects.HeaderTime))
	p := data
	if len(p) > 160 {
		p = p[:160]
	}
	return eventView{Subject: subject, ID: h.Get(subjects.HeaderID), Type: h.Get(subjects.HeaderType), Time: t,
		Causation: h.Get(subjects.HeaderCausationID), Correlation: h.Get(subjects.HeaderCorrelationID),
		Size: len(data), Preview: strings.ToValidUTF8(string(p), "?"), Reason: h.Get(subjects.HeaderDLQReason)}
}

// tail streams every event stored from now on as server-sent events, until the client goes.
func (c *console) tail(ctx *fasthttp.RequestCtx) {
	ch := make(chan *nats.Msg, 256)
	var subs []*nats.Subscription
	for _, f := range []string{subjects.WebhooksRoot + ".>", subjects.AgentsRoot + ".>", subjects.DLQRoot + ".>"} {
		sub, err := c.nc.ChanSubscribe(f, ch)
		if err != nil {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			return
		}
		subs = append(subs, sub)
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer func() {
			for _, s := range subs {
				_ = s.Unsubscribe()
			}
		}()
		ping := time.NewTicker(15 * time.Second)
		defer ping.Stop()
		fmt.Fprint(w, ": tail\n\n")
		for _, v := range c.recent(tailHistory) {
			b, _ := json.Marshal(v)
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		if w.Flush() != nil {
			return
		}
		for {
			select {
			case m := <-ch:
				b, _ := json.Marshal(view(m.Subject, m.Header, m.Data))
				fmt.Fprintf(w, "data: %s\n\n", b)
			case <-ping.C:
				fmt.Fprint(w, ": ping\n\n")
			case <-c.done:
				return
			}
			if w.Flush() != nil {
				return
			}
		}
	})
}

// tailHistory is how many stored events a new tail starts with, per stream.
const tailHistory = 20

// recent returns the last n events of the ingress and agent streams, oldest first.
func (c *console) recent(n uint64) []eventView {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []eventView
	for _, stream := range []string{subjects.StreamWebhooks, subjects.StreamAgents} {
		s, err := c.js.Stream(ctx, stream)
		if err != nil {
			continue
		}
		info, err := s.Info(ctx)
		if err != nil || info.State.Msgs == 0 {
			continue
		}
		from := info.State.FirstSeq
		if info.State.LastSeq >= n && info.State.LastSeq-n+1 > from {
			from = info.State.LastSeq - n + 1
		}
		for seq := from; seq <= info.State.LastSeq; seq++ {
			if m, err := s.GetMsg(ctx, seq); err == nil {
				v := view(m.Subject, m.Header, m.Data)
				v.Stream, v.Seq = stream, m.Sequence
				out = append(out, v)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b eventView) int { return a.Time.Compare(b.Time) })
	return out
}

// maxChainScan bounds how far back the chain view looks in each stream.
const maxChainScan = 20000

// chain returns the events of a correlation chain, oldest first, from the newest
// maxChainScan messages of the ingress and agent streams.
func (c *console) chain(id string) ([]eventView, error) {
	if id == "" {
		return nil, errors.New("id: want a correlation id")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []eventView
	for _, stream := range []string{subjects.StreamWebhooks, subjects.StreamAgents} {
		s, err := c.js.Stream(ctx, stream)
		if err != nil {
			return nil, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return nil, err
		}
		start := info.State.FirstSeq
		if info.State.LastSeq > maxChainScan && info.State.LastSeq-maxChainScan > start {
			start = info.State.LastSeq - maxChainScan
		}
		if info.State.Msgs == 0 {
			continue
		}
		cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
		if err != nil {
			return nil, err
		}
		for remaining := info.State.LastSeq - start + 1; remaining > 0; {
			batch, err := cons.FetchNoWait(int(min(remaining, 1000)))
			if err != nil {
				return nil, err
			}
			n := 0
			for m := range batch.Messages() {
				n++
				h := m.Headers()
				if h.Get(subjects.HeaderID) == id || h.Get(subjects.HeaderCorrelationID) == id {
					v := view(m.Subject(), h, m.Data())
					if md, err := m.Metadata(); err == nil {
						v.Stream, v.Seq = md.Stream, md.Sequence.Stream
					}
					out = append(out, v)
				}
			}
			if n == 0 {
				break
			}
			remaining -= uint64(n)
		}
	}
	return out, nil
}

func (c *console) deadLetters() ([]eventView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, subjects.StreamDLQ)
	if err != nil {
		return nil, err
	}
	var out []eventView
	for seq := uint64(1); len(out) < 500; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subjects.DLQRoot+".>"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		v := view(m.Subject, m.Header, m.Data)
		v.Stream, v.Seq = subjects.StreamDLQ, m.Sequence
		out = append(out, v)
		seq = m.Sequence + 1
	}
	return out, nil
}

// redriveAnswer is the console's answer to a redrive: what ops.Redrive did with the one
// dead letter, or why it did nothing.
type redriveAnswer struct {
	*ops.Redriven
	Error string `json:"error,omitempty"`
	// RetryAt is when a dead letter refused as too recent may be redriven.
	RetryAt time.Time `json:"retry_at,omitzero"`
}

// redrive hands the dead letter seq back to its agent as "hookbus dlq redrive SEQ" does:
// through the agent's replay subject when the agent reads it, else on the original
// subject. A dead letter younger than the DLQ stream's duplicate window is refused (409,
// with the time it may be redriven): the console never forces a redrive.
func (c *console) redrive(ctx *fasthttp.RequestCtx, seq uint64) {
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := ops.Redrive(rctx, c.js, ops.RedriveOptions{Filter: ops.DLQFilter{Seqs: []uint64{seq}}, Via: ops.ViaAuto})
	if err == nil && len(res.Redriven) == 1 {
		c.json(ctx, redriveAnswer{Redriven: &res.Redriven[0]})
		return
	}
	if err == nil {
		err = fmt.Errorf("%w: dead letter %d", ops.ErrNotFound, seq)
	}
	var ans redriveAnswer
	var young *ops.TooRecentError
	switch {
	case errors.As(err, &young):
		ctx.SetStatusCode(fasthttp.StatusConflict)
		ans.RetryAt = young.SafeAt.UTC()
		ans.Error = fmt.Sprintf("dead letter %d of %s is only %s old; the DLQ stream remembers its id for %s, and if %s failed on the event again before then, the new dead letter could be dropped as a duplicate and the event lost.",
			seq, young.Agent, young.Age.Round(time.Second), young.Window, young.Agent)
	case errors.Is(err, ops.ErrNotFound):
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	case errors.Is(err, ops.ErrInvalid):
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
	case errors.Is(err, ops.ErrUnknownAgent), errors.Is(err, ops.ErrNoReplaySubject):
		ctx.SetStatusCode(fasthttp.StatusConflict)
	default:
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	if ans.Error == "" {
		ans.Error = err.Error()
	}
	c.json(ctx, ans)
}

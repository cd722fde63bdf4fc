package relay

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
)

// Outcomes of a delivery attempt: the last token of its event's subject,
// agents.relay.events.delivery.<outcome>.
const (
	OutcomeDelivered    = "delivered"     // the destination answered 2xx
	OutcomeRetrying     = "retrying"      // failed (network, timeout, 408, 429, 5xx, hold); it will be retried
	OutcomeDeadLettered = "dead_lettered" // refused by the destination (other 4xx, 3xx) or out of attempts
	OutcomeDisabled     = "disabled"      // the endpoint answered 410 Gone and is disabled
	OutcomeRefused      = "refused"       // the SSRF guard or the callback allowances refused the URL
)

// Attempt is the body of a delivery event: one attempt to deliver one event to one
// destination, as JSON.
type Attempt struct {
	Target    string    `json:"target"`             // endpoint or callback destination name ("" for a refused callback)
	Callback  bool      `json:"callback,omitempty"` // a task callback rather than a subscription
	URL       string    `json:"url"`                // the URL, its query elided
	EventID   string    `json:"event_id"`           // the event delivered: also the webhook-id
	Subject   string    `json:"subject"`            // its subject
	TaskID    string    `json:"task_id,omitempty"`  // callbacks: the task
	Attempt   int       `json:"attempt"`            // 1 for the first attempt
	Outcome   string    `json:"outcome"`            // one of the Outcome constants
	Status    int       `json:"status,omitempty"`   // HTTP status, when the destination answered
	LatencyMS float64   `json:"latency_ms"`         // from sending to the response headers
	Error     string    `json:"error,omitempty"`    // what went wrong
	RetryIn   string    `json:"retry_in,omitempty"` // retrying: the scheduled delay before the next attempt
	Time      time.Time `json:"time"`               // when the attempt ended
}

// DeliveryFilter matches every delivery event of the relay.
const DeliveryFilter = "agents." + Name + ".events.delivery.>"

// DeliverySubject returns the subject of delivery events with outcome:
// "agents.relay.events.delivery.<outcome>".
func DeliverySubject(outcome string) string { return subjects.AgentEvent(Name, "delivery."+outcome) }

// publishTimeout bounds the write of one delivery event.
const publishTimeout = 5 * time.Second

// record stores a as an event of the relay, caused by ev, following the envelope rules
// every agent keeps (derived id, causation, correlation, hops, chain, traceparent). The
// event's id is derived from ev, the consumer and the attempt number, so a repeat is dropped
// by the stream. Recording is best effort: a delivery is never repeated because its record
// could not be written, so a failure is logged only.
func (r *Relay) record(ev *agents.Event, consumer string, a Attempt) {
	if ev.Hops+1 > agents.DefaultMaxHops {
		return
	}
	a.Time = time.Now().UTC()
	typ := "delivery." + a.Outcome
	id := subjects.DerivedID(ev.ID, Name, "delivery."+consumer, a.Attempt)
	body, _ := json.Marshal(a)
	msg := nats.NewMsg(DeliverySubject(a.Outcome))
	msg.Data = body
	h := msg.Header
	h.Set(subjects.HeaderSpecVersion, subjects.SpecVersion)
	h.Set(subjects.HeaderID, id)
	h.Set(subjects.HeaderMsgID, id)
	h.Set(subjects.HeaderSource, "/agents/"+Name)
	h.Set(subjects.HeaderType, typ)
	h.Set(subjects.HeaderTime, a.Time.Format(time.RFC3339Nano))
	h.Set(subjects.HeaderContentType, "application/json")
	h.Set(subjects.HeaderCausationID, ev.ID)
	h.Set(subjects.HeaderCorrelationID, ev.CorrelationID)
	h.Set(subjects.HeaderHops, strconv.Itoa(ev.Hops+1))
	h.Set(subjects.HeaderChain, chain(ev, agents.DefaultMaxHops))
	if tp := ev.Header.Get(subjects.HeaderTraceparent); tp != "" {
		h.Set(subjects.HeaderTraceparent, tp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if _, err := r.js.PublishMsg(ctx, msg); err != nil {
		r.log.Warn().Err(err).Str("event", ev.ID).Str("outcome", a.Outcome).Msg("delivery event not stored")
	}
}

// chain is the Hookbus-Chain of an event caused by ev: the ids that led to ev and ev's
// own, at most max of them, oldest first.
func chain(ev *agents.Event, max int) string {
	c := ev.ID
	if prev := ev.Header.Get(subjects.HeaderChain); prev != "" {
		c = prev + " " + ev.ID
	}
	for n := strings.Count(c, " ") + 1; n > max; n-- {
		_, c, _ = strings.Cut(c, " ")
	}
	return c
}

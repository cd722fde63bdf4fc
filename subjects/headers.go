package subjects

// Envelope headers. Every message on the bus is a CloudEvent in NATS binary mode: the
// ce-* attributes are headers and the body is the original payload, byte for byte.
const (
	// SpecVersion is the CloudEvents version hookbus writes.
	SpecVersion = "1.0"

	HeaderSpecVersion = "ce-specversion" // CloudEvents spec version, always SpecVersion
	HeaderID          = "ce-id"          // event id; equal to Nats-Msg-Id
	HeaderSource      = "ce-source"      // "/webhooks/<source>" or "/agents/<agent>"
	HeaderType        = "ce-type"        // event type, e.g. "issues.opened"
	HeaderTime        = "ce-time"        // RFC 3339 time the event entered the bus
	HeaderContentType = "content-type"   // media type of the body

	// HeaderMsgID is the JetStream de-duplication header; hookbus sets it to the event id.
	HeaderMsgID = "Nats-Msg-Id"

	// HeaderVerifiedBy names the scheme that verified an ingress request ("github", "hmac", …).
	HeaderVerifiedBy = "Hookbus-Verified-By"
	// HeaderDeliveryID is the provider's own delivery id (e.g. X-GitHub-Delivery), if any.
	HeaderDeliveryID = "Hookbus-Delivery-Id"
	// HeaderCausationID is the id of the event whose handling emitted this one.
	HeaderCausationID = "Hookbus-Causation-Id"
	// HeaderCorrelationID is the id of the first event of the chain this one belongs to.
	HeaderCorrelationID = "Hookbus-Correlation-Id"
	// HeaderHops counts the agent hops between the first event of the chain and this one.
	HeaderHops = "Hookbus-Hops"
	// HeaderReplay is set to "true" on copies that a replay or a dead-letter redrive published.
	HeaderReplay = "Hookbus-Replay"
	// HeaderTraceparent is the W3C trace context, passed through when present.
	HeaderTraceparent = "traceparent"
)

// Headers of the copies that a replay or a dead-letter redrive publishes, besides
// HeaderReplay ("true").
const (
	// HeaderReplayOf is the id of the event the copy repeats: its ce-id (which the copy
	// keeps), else its Nats-Msg-Id, else "<stream>:<seq>".
	HeaderReplayOf = "Hookbus-Replay-Of"
	// HeaderReplayRun names the replay run that published the copy ("redrive" for a
	// redriven dead letter).
	HeaderReplayRun = "Hookbus-Replay-Run"
	// HeaderReplaySubject is the subject the original was stored under; a copy sent to one
	// agent (see Replay) or to another subject keeps it here.
	HeaderReplaySubject = "Hookbus-Replay-Subject"
	// HeaderReplayStream and HeaderReplaySequence locate the original.
	HeaderReplayStream   = "Hookbus-Replay-Stream"
	HeaderReplaySequence = "Hookbus-Replay-Sequence"
)

// Dead-letter and loop-guard headers.
const (
	// HeaderChain lists the ids of the events that led to this one, oldest first, separated
	// by spaces; at most the hop limit of them.
	HeaderChain = "Hookbus-Chain"

	// HeaderDLQReason is the error text that dead-lettered a message.
	HeaderDLQReason = "Hookbus-Dlq-Reason"
	// HeaderDLQAttempts is the number of deliveries the agent had made.
	HeaderDLQAttempts = "Hookbus-Dlq-Attempts"
	// HeaderDLQTime is the RFC 3339 time the message was dead-lettered.
	HeaderDLQTime = "Hookbus-Dlq-Time"
	// HeaderDLQSubject is the subject the message was originally stored under; for a copy
	// sent to the agent alone (see Replay), the subject of the event it copies.
	HeaderDLQSubject = "Hookbus-Dlq-Subject"
	// HeaderDLQStream and HeaderDLQSequence locate the original message; for a copy sent to
	// the agent alone, the event it copies, as far as the copy's replay headers tell
	// (sequence 0 when they do not).
	HeaderDLQStream   = "Hookbus-Dlq-Stream"
	HeaderDLQSequence = "Hookbus-Dlq-Sequence"
	// HeaderDLQAgent names the agent that gave up on the message.
	HeaderDLQAgent = "Hookbus-Dlq-Agent"
)

// Task headers, on task messages and on their status events.
const (
	HeaderTaskID        = "Hookbus-Task-Id"        // the task's id, chosen by the requester
	HeaderTaskKind      = "Hookbus-Task-Kind"      // what is asked, e.g. "summarize"
	HeaderTaskRequester = "Hookbus-Task-Requester" // agent that delegated the task
	HeaderTaskWorker    = "Hookbus-Task-Worker"    // agent asked to do it
	HeaderTaskDeadline  = "Hookbus-Task-Deadline"  // RFC 3339; past it the task is timed_out
	HeaderTaskState     = "Hookbus-Task-State"     // on status events: submitted … timed_out
	HeaderTaskError     = "Hookbus-Task-Error"     // on failed status events: the reason
	// HeaderError carries a request/reply handler's error text on the reply.
	HeaderError = "Hookbus-Error"
)

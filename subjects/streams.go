package subjects

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names.
const (
	StreamWebhooks = "WEBHOOKS" // ingress: webhooks.>
	StreamAgents   = "AGENTS"   // agent events and tasks: agents.>
	StreamDLQ      = "DLQ"      // dead letters: dlq.>
)

// DefaultDuplicateWindow is the stream de-duplication window when none is configured.
const DefaultDuplicateWindow = 2 * time.Minute

// StreamOptions are the deployment choices applied to every hookbus stream.
// The zero value means one replica, file storage, the default duplicate window and no age
// limit.
type StreamOptions struct {
	Replicas        int
	DuplicateWindow time.Duration
	// WebhookWindow is the duplicate window of WEBHOOKS alone (default DuplicateWindow).
	// A bridge with a dedupe horizon needs only a short one: the window then covers copies
	// arriving at once, the horizon everything later, and the stream holds every id of
	// its window in memory.
	WebhookWindow time.Duration
	MaxAge        time.Duration
}

// Streams returns the definitions of the hookbus streams, ingress first.
func Streams(o StreamOptions) []jetstream.StreamConfig {
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.WebhookWindow <= 0 {
		o.WebhookWindow = o.DuplicateWindow
	}
	mk := func(name, root, desc string) jetstream.StreamConfig {
		window := o.DuplicateWindow
		if name == StreamWebhooks {
			window = o.WebhookWindow
		}
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    []string{root + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Replicas:    o.Replicas,
			Duplicates:  window,
			MaxAge:      o.MaxAge,
			Discard:     jetstream.DiscardOld,
		}
	}
	return []jetstream.StreamConfig{
		mk(StreamWebhooks, WebhooksRoot, "hookbus: verified incoming webhooks"),
		mk(StreamAgents, AgentsRoot, "hookbus: events and tasks of agents"),
		mk(StreamDLQ, DLQRoot, "hookbus: dead letters of agents"),
	}
}

// StreamFor returns the name of the stream that stores subject or filter (which may end in a
// wildcard), by its root token; "" when no hookbus stream does.
func StreamFor(subject string) string {
	root := subject
	for i := 0; i < len(subject); i++ {
		if subject[i] == '.' {
			root = subject[:i]
			break
		}
	}
	switch root {
	case WebhooksRoot:
		return StreamWebhooks
	case AgentsRoot:
		return StreamAgents
	case DLQRoot:
		return StreamDLQ
	}
	return ""
}

// KV buckets.
const (
	// BucketDone holds agents' "done" records (idempotency of side effects), keyed
	// <agent>.<sha256 of event id and step>, expiring after their TTL.
	BucketDone = "hookbus_done"
)

// DefaultDoneTTL is how long a done record is kept when the agent does not say.
const DefaultDoneTTL = 7 * 24 * time.Hour

// DoneBucket returns the definition of the done-record bucket.
func DoneBucket(o StreamOptions, ttl time.Duration) jetstream.KeyValueConfig {
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if ttl <= 0 {
		ttl = DefaultDoneTTL
	}
	return jetstream.KeyValueConfig{
		Bucket:      BucketDone,
		Description: "hookbus: side effects agents have completed, by event",
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		History:     1,
	}
}

// BucketTasks holds the records of tasks agents delegated, keyed <requester>.<task id>, so a
// requester notices a deadline that passed while it was down.
const BucketTasks = "hookbus_tasks"

// TasksBucket returns the definition of the task-record bucket.
func TasksBucket(o StreamOptions) jetstream.KeyValueConfig {
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	return jetstream.KeyValueConfig{
		Bucket:      BucketTasks,
		Description: "hookbus: tasks delegated between agents and their state",
		TTL:         DefaultDoneTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		History:     1,
	}
}

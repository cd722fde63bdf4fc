package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KV buckets of the relay.
const (
	// BucketState holds the relay's lasting decisions about destinations: the key
	// "disabled.<consumer>" exists while an endpoint is disabled (it answered 410 Gone).
	// Deleting the key and restarting the relay enables the endpoint again.
	BucketState = "hookbus_relay"
	// BucketCallbacks holds the callback URL of each task that named one, keyed by the
	// hash of requester and task id, for CallbackTTL.
	BucketCallbacks = "hookbus_relay_callbacks"
	// CallbackTTL is how long a task's callback URL is remembered.
	CallbackTTL = 30 * 24 * time.Hour
)

// recorderAgent is the consumer that records the callback URLs of task messages.
const recorderAgent = "relay-tasks"

// disabledKey is the BucketState key of a disabled endpoint.
func disabledKey(agent string) string { return "disabled." + agent }

// disabledRecord is the value of a disabledKey.
type disabledRecord struct {
	Endpoint string    `json:"endpoint"`
	Status   int       `json:"status"`
	EventID  string    `json:"event_id"`
	Time     time.Time `json:"time"`
}

// callbackRecord is what the recorder keeps about a task that named a callback URL.
type callbackRecord struct {
	URL         string `json:"url"`
	Destination string `json:"destination"`
	Requester   string `json:"requester"`
	Worker      string `json:"worker"`
	Kind        string `json:"kind"`
	TaskID      string `json:"task_id"`
}

// callbackKey is the BucketCallbacks key of a task: any task id fits the key alphabet.
func callbackKey(requester, taskID string) string {
	sum := sha256.Sum256([]byte(requester + "\x00" + taskID))
	return "task." + hex.EncodeToString(sum[:16])
}

func stateBucket() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      BucketState,
		Description: "hookbus relay: disabled endpoints",
		Storage:     jetstream.FileStorage,
		History:     1,
	}
}

func callbacksBucket() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      BucketCallbacks,
		Description: "hookbus relay: callback URLs of delegated tasks",
		Storage:     jetstream.FileStorage,
		History:     1,
		TTL:         CallbackTTL,
	}
}

// bindOrCreate binds the bucket, or creates it when missing.
func bindOrCreate(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return js.CreateKeyValue(ctx, cfg)
	}
	return kv, err
}

// isDisabled reads whether the endpoint behind agent is disabled.
func isDisabled(ctx context.Context, kv jetstream.KeyValue, agent string) (bool, error) {
	_, err := kv.Get(ctx, disabledKey(agent))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, err
}

// disable records that the endpoint behind agent is disabled.
func disable(ctx context.Context, kv jetstream.KeyValue, agent string, rec disabledRecord) error {
	b, _ := json.Marshal(rec)
	_, err := kv.Put(ctx, disabledKey(agent), b)
	return err
}

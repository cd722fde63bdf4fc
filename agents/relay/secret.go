package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names, as the relay sends them.
const (
	HeaderWebhookID        = "webhook-id"        // the event id: the same on every attempt
	HeaderWebhookTimestamp = "webhook-timestamp" // unix seconds of the attempt
	HeaderWebhookSignature = "webhook-signature" // "v1,<base64>" per secret, space-separated
)

// SecretPrefix starts every signing secret: "whsec_" followed by the base64 of the key.
const SecretPrefix = "whsec_"

// Key lengths accepted by ParseSecret, in bytes, as the Standard Webhooks spec recommends.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// Secret is a Standard Webhooks signing key. Its printed forms never show the key.
type Secret struct {
	key []byte
}

// ParseSecret reads a "whsec_<base64>" secret. It returns an error wrapping ErrSecret,
// which never quotes the secret, when the prefix is missing, the rest is not standard
// base64, or the key is shorter than MinSecretBytes or longer than MaxSecretBytes.
func ParseSecret(s string) (Secret, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		if strings.HasPrefix(s, "whpk_") || strings.HasPrefix(s, "whsk_") {
			return Secret{}, fmt.Errorf("%w: asymmetric (v1a) keys are not supported; want %s…", ErrSecret, SecretPrefix)
		}
		return Secret{}, fmt.Errorf("%w: want %s followed by base64", ErrSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return Secret{}, fmt.Errorf("%w: the part after %s is not standard base64", ErrSecret, SecretPrefix)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return Secret{}, fmt.Errorf("%w: the key is %d bytes, want %d to %d", ErrSecret, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return Secret{key: key}, nil
}

// String hides the key.
func (s Secret) String() string { return SecretPrefix + "…" }

// GoString hides the key.
func (s Secret) GoString() string { return "relay.Secret{…}" }

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// Sign returns the webhook-signature header value for a message: for each secret,
// "v1," and the base64 HMAC-SHA256 of "id.timestamp.body" under the secret's key, joined by
// spaces, so a receiver that knows any one of the secrets (old or new, during a rotation)
// accepts the message. timestamp counts whole seconds, as webhook-timestamp does.
func Sign(secrets []Secret, id string, timestamp time.Time, body []byte) string {
	ts := strconv.FormatInt(timestamp.Unix(), 10)
	var b strings.Builder
	for i, s := range secrets {
		if i > 0 {
			b.WriteByte(' ')
		}
		m := hmac.New(sha256.New, s.key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return b.String()
}

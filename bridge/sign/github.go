package sign

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hookbus/hookbus/bridge/verify"
)

func init() {
	register(func(_ string, o verify.Options) (Signer, error) {
		secret, err := firstSecret(o)
		if err != nil {
			return nil, err
		}
		return gitHub{secret: secret}, nil
	}, "github")
}

// GitHub signs r as GitHub does: X-Hub-Signature-256 is "sha256=" and the hex
// HMAC-SHA256 of the body under secret. X-GitHub-Event is r.Event up to its first dot
// ("issues" of "issues.opened"; the rest is the payload's action, see GitHubPayload), and
// X-GitHub-Delivery is r.DeliveryID when set.
func GitHub(secret string, r *Request) error {
	if secret == "" {
		return fmt.Errorf("%w: empty secret", ErrOptions)
	}
	event, _, _ := strings.Cut(r.Event, ".")
	if event == "" {
		return fmt.Errorf("%w: github needs an event type, e.g. issues.opened", ErrEvent)
	}
	if err := headerValue("event", event); err != nil {
		return err
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(r.Body)
	h := r.header()
	h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	h.Set("X-GitHub-Event", event)
	if r.DeliveryID != "" {
		h.Set("X-GitHub-Delivery", r.DeliveryID)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	return nil
}

// GitHubPayload returns the payload GitHub would send for event with data: the action of
// "issues.opened" ("opened") is the payload's top-level "action". When data is a JSON
// object without one, it is added as the object's first key, the rest of data unchanged;
// when data already has the same action, or event has no action, data is returned as it
// is. A different action, or an action for data that is not a JSON object, is an error
// wrapping ErrEvent.
func GitHubPayload(event string, data []byte) ([]byte, error) {
	if !utf8.ValidString(event) {
		return nil, fmt.Errorf("%w: event %q is not UTF-8", ErrEvent, event)
	}
	_, action, ok := strings.Cut(event, ".")
	if !ok {
		return data, nil
	}
	raw, keys, ok := topLevel(data, "action")
	if !ok {
		return nil, fmt.Errorf("%w: event %q has the action %q, which GitHub carries in a JSON object payload; the data is not one", ErrEvent, event, action)
	}
	if raw != nil {
		var got string
		if json.Unmarshal(raw, &got) != nil || got != action {
			return nil, fmt.Errorf("%w: event %q, but the payload's action is %s", ErrEvent, event, raw)
		}
		return data, nil
	}
	quoted, _ := json.Marshal(action)
	open := bytes.IndexByte(data, '{')
	out := make([]byte, 0, len(data)+len(quoted)+11)
	out = append(out, data[:open+1]...)
	out = append(out, `"action":`...)
	out = append(out, quoted...)
	if keys > 0 {
		out = append(out, ',')
	}
	return append(out, data[open+1:]...), nil
}

// topLevel reads data as one JSON object and returns the raw value of the first
// occurrence of key (nil when absent; the first, as the verifier reads it) and the number
// of keys; ok is false when data is not exactly one valid JSON object.
func topLevel(data []byte, key string) (raw json.RawMessage, keys int, ok bool) {
	if !json.Valid(data) {
		return nil, 0, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, 0, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, 0, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, 0, false
		}
		if k, _ := t.(string); k == key && raw == nil {
			raw = v
		}
		keys++
	}
	return raw, keys, true
}

type gitHub struct{ secret string }

func (g gitHub) Scheme() string { return "github" }

func (g gitHub) Payload(event string, data []byte) ([]byte, error) {
	return GitHubPayload(event, data)
}

func (g gitHub) Sign(r *Request) error { return GitHub(g.secret, r) }

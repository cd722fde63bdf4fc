package ops

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/sign"
)

// SendOptions describe a sample webhook sent to a running bridge.
type SendOptions struct {
	// Config is the bridge's config; Source names one of its sources.
	Config *config.Config
	Source string
	// Event is the event type as hookbus names it ("issues.opened"); where it goes depends
	// on the scheme (for github: X-GitHub-Event and the payload's action).
	Event string
	// Data is the payload; nil sends a small sample JSON object with the time.
	Data []byte
	// URL is the bridge's base URL ("http://127.0.0.1:8080", the webhook path is added)
	// or a full webhook URL; "" means the config's http.listen.
	URL string
	// DeliveryID is the provider delivery id to send; "" makes a fresh one, so every send
	// is a new event.
	DeliveryID string
	// Client sends the request; nil means a client with a 10 s timeout.
	Client *http.Client
	// Now is the clock of signed timestamps; zero means time.Now().
	Now time.Time
}

// SendResult reports a sent webhook and the bridge's answer.
type SendResult struct {
	URL        string `json:"url"`
	Source     string `json:"source"`
	Scheme     string `json:"scheme"`
	Event      string `json:"event,omitempty"`
	DeliveryID string `json:"delivery_id,omitempty"`
	Size       int    `json:"size"`
	// Status and Answer are the bridge's HTTP status and body.
	Status int    `json:"status"`
	Answer string `json:"answer"`
	// Notes point out what the source's configuration does to the request (an event type
	// the source does not read, …).
	Notes []string `json:"notes,omitempty"`
}

// WebhookURL returns the URL a source's webhooks are posted to: base with
// "/webhooks/<source>" when base has no path of its own, base unchanged otherwise.
func WebhookURL(base, source string) (string, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%w: url %q: want http://host:port or a full webhook URL", ErrInvalid, base)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/webhooks/" + source
	}
	return u.String(), nil
}

// Send signs a sample webhook the way the source's sender would (its verify scheme and
// its first secret, package sign) and posts it to the bridge. The answer, whatever its
// status, is in the result; the error is for what kept the request from being answered:
// ErrInvalid (unknown or disabled source, bad URL, a payload the scheme cannot carry),
// sign.ErrUnsupported (a scheme hookbus cannot sign yet), or the transport's error.
func Send(ctx context.Context, o SendOptions) (SendResult, error) {
	res := SendResult{Source: o.Source, Event: o.Event}
	if o.Config == nil {
		return res, fmt.Errorf("%w: send needs the bridge's config (its sources and secrets)", ErrInvalid)
	}
	src := o.Config.Source(o.Source)
	if src == nil {
		var names []string
		for _, s := range o.Config.Sources {
			names = append(names, s.Name)
		}
		return res, fmt.Errorf("%w: unknown source %q (configured: %s)", ErrInvalid, o.Source, strings.Join(names, ", "))
	}
	if src.Disabled != "" {
		return res, fmt.Errorf("%w: source %q is disabled: %s", ErrInvalid, o.Source, src.Disabled)
	}
	res.Scheme = src.Verify
	signer, err := sign.New(src.Verify, src.Options)
	if err != nil {
		return res, fmt.Errorf("source %q: %w", o.Source, err)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	data := o.Data
	if data == nil {
		data, _ = json.Marshal(map[string]any{"hookbus_sample": true, "sent_at": now.UTC().Format(time.RFC3339Nano)})
	}
	body, err := signer.Payload(o.Event, data)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	id := o.DeliveryID
	if id == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = "hookbus-send-" + hex.EncodeToString(b[:])
	}
	req := &sign.Request{Body: body, Event: o.Event, DeliveryID: id, Now: now}
	if err := signer.Sign(req); err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch opt := src.Options; {
	case src.Verify == "github":
		res.DeliveryID = id
	case opt.IDHeader != "":
		res.DeliveryID = id
	default:
		res.Notes = append(res.Notes, "the source reads no delivery id: the bridge dedupes it by a digest of the body")
	}
	if src.Verify != "github" && o.Event != "" && src.Options.EventHeader == "" {
		fixed := src.Options.Event
		if fixed == "" {
			fixed = "webhook"
		}
		if fixed != o.Event {
			res.Notes = append(res.Notes, fmt.Sprintf("the source reads no event header: the event is stored as %q, not %q", fixed, o.Event))
		}
	}
	base := o.URL
	if base == "" {
		base = "http://" + reachable(o.Config.HTTP.Listen)
	}
	if res.URL, err = WebhookURL(base, o.Source); err != nil {
		return res, err
	}
	res.Size = len(body)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, res.URL, bytes.NewReader(body))
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	hreq.Header = req.Header
	hreq.Header.Set("User-Agent", "hookbus-send")
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return res, fmt.Errorf("post %s: %w (is the bridge running?)", res.URL, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	res.Status, res.Answer = resp.StatusCode, strings.TrimSpace(string(answer))
	return res, nil
}

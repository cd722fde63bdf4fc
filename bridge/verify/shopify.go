package verify

import (
	"crypto/sha256"
	"strings"
)

// Shopify's request headers.
const (
	shopifySig       = "X-Shopify-Hmac-Sha256" // base64 HMAC-SHA256 of the body
	shopifyTopic     = "X-Shopify-Topic"       // e.g. "orders/create"
	shopifyWebhookID = "X-Shopify-Webhook-Id"  // the delivery id
	shopifyEventID   = "X-Shopify-Event-Id"    // the id of the event, shared by its deliveries
)

const shopifyScheme = "shopify"

// shopifyOptions are the options the shopify scheme uses.
var shopifyOptions = []string{"secrets"}

// Rejections, built once (see reqErr).
var (
	errShopifyNoSig    = reqErr(ErrMissingSignature, "no "+shopifySig+" header")
	errShopifyEncoding = reqErr(ErrInvalidSignature, shopifySig+" is not 32 base64-encoded bytes")
	errShopifyMismatch = reqErr(ErrInvalidSignature, "no configured secret produces the signature")
	errShopifyNoTopic  = reqErr(ErrMalformed, "no "+shopifyTopic+" header")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newShopify(o) }, shopifyScheme)
}

// shopify verifies Shopify webhooks: X-Shopify-Hmac-Sha256 holds the base64 HMAC-SHA256 of
// the raw body under the app's client secret (or the store's webhook signing secret).
type shopify struct{ keys *keyring }

var _ Verifier = (*shopify)(nil)

// newShopify uses the option secrets and refuses any other: Shopify signs no timestamp, so
// there is no tolerance to set.
func newShopify(o Options) (*shopify, error) {
	if err := onlyOptions(shopifyScheme, &o, shopifyOptions...); err != nil {
		return nil, err
	}
	k, err := newKeyring(o.Secrets, sha256.New)
	if err != nil {
		return nil, err
	}
	return &shopify{keys: k}, nil
}

// Scheme returns "shopify".
func (s *shopify) Scheme() string { return shopifyScheme }

// Verify checks X-Shopify-Hmac-Sha256 against every secret before it reads anything else:
// it must be the base64 (standard alphabet as Shopify sends it; URL-safe and unpadded are
// accepted too) HMAC-SHA256 of the raw body.
//
// The delivery id is X-Shopify-Webhook-Id, else X-Shopify-Event-Id. The event is
// X-Shopify-Topic with its slashes turned into dots: "orders/create" becomes
// "orders.create".
//
// Errors: ErrMissingSignature (no signature header), ErrInvalidSignature (not base64 of 32
// bytes, or no secret matches), ErrMalformed (genuine, but no X-Shopify-Topic). Shopify
// signs the body only: its headers, topic and ids included, are not covered by the
// signature, and no timestamp is signed, so a captured delivery can be replayed; the dedupe
// on the delivery id is what drops a replay inside the dedupe horizon.
func (s *shopify) Verify(r *Request) (Result, error) {
	sig := r.Header(shopifySig)
	if sig == "" {
		return Result{}, errShopifyNoSig
	}
	var buf [maxMAC]byte
	mac, ok := decodeBase64(buf[:], sig)
	if !ok || len(mac) != s.keys.size {
		return Result{}, errShopifyEncoding
	}
	if !s.keys.match(mac, r.Body) {
		return Result{}, errShopifyMismatch
	}
	topic := r.Header(shopifyTopic)
	if topic == "" {
		return Result{}, errShopifyNoTopic
	}
	id := r.Header(shopifyWebhookID)
	if id == "" {
		id = r.Header(shopifyEventID)
	}
	return Result{DeliveryID: id, Event: strings.ReplaceAll(topic, "/", ".")}, nil
}

// Package verify checks webhook signatures over the raw body bytes, one file per scheme,
// all behind one Verifier shape. A verifier sees only a header lookup, the body and a
// clock (Request), never a server type, so each is testable alone; New builds one from a
// scheme name and the source's Options.
//
// Schemes (Schemes lists them): "github" (X-Hub-Signature-256, optionally the legacy SHA-1
// header), "gitlab" (token, or its Standard Webhooks signing mode), "stripe", "slack"
// (answering url_verification), "shopify", "hubspot" (v3, v1/v2 with allow_legacy),
// "standard-webhooks" and its alias "svix", "linear", "twilio", "paddle", "zoom" (answering
// its URL validation), "twitch" (answering its callback verification), "discord" (Ed25519,
// answering PING), "sendgrid" (ECDSA P-256), the generic "hmac", "hmac-sha1", "hmac-sha256"
// and "hmac-sha512" (a configurable header, prefix, encoding, timestamp header and signed
// content), and "none", which accepts everything and must be named explicitly.
//
// Asymmetric schemes (discord, sendgrid) allocate for the signature check itself; every
// other scheme's genuine path allocates at most the event type and delivery id it returns.
//
// Guarantees every scheme keeps:
//   - the signature is checked before anything else is read from the body, and the body is
//     never modified;
//   - every comparison of a signature is constant-time (hmac.Equal);
//   - every configured secret is tried, so during a rotation the old and the new secret
//     are accepted side by side;
//   - request errors say only which class of failure happened (ErrMissingSignature,
//     ErrInvalidSignature, ErrStaleTimestamp, ErrMalformed), configuration errors name the
//     option (FieldError); neither ever carries a secret or a computed signature;
//   - verifiers are safe for concurrent use.
//
// Adding a scheme is one new file: it registers its builder in an init function, refuses
// options it does not use (onlyOptions), keys its MACs once at start-up (newKeyring; each
// and match try every secret), checks signed timestamps with checkTimestamp, reads routing
// fields from the verified body with jsonField and formValue, and builds its fixed
// rejections once with reqErr.
package verify

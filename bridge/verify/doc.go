// Package verify checks webhook signatures over the raw body bytes, one file per scheme,
// all behind one Verifier shape. Verifiers see only a header lookup, the body and a clock,
// never a server type, so each is testable alone.
//
// Every comparison of a signature is constant-time (hmac.Equal). Every configured secret is
// tried, so during a rotation the old and the new secret are accepted side by side. Errors
// say only which class of failure happened (ErrMissingSignature, ErrInvalidSignature,
// ErrStaleTimestamp, ErrMalformed); they never carry a secret or a computed signature.
package verify

// Package sign produces webhook requests the way their senders sign them, so that hookbus
// can send itself a sample event of any configured source (hookbus send) without the
// provider.
//
// It is the mirror image of package verify: for a scheme name and the same Options a
// source is configured with, New returns a Signer that sets every header the scheme's
// verifier reads (the signature, the event type, the delivery id, a signed timestamp).
// Each scheme is one file with one function doing the signing (GitHub, HMAC, None) and a
// registration in an init function, so adding a sender is one new file.
//
// A signer is correct only if verify accepts what it signs; the tests check every scheme
// and variant against verify.New.
package sign

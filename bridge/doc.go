// Package bridge is the hookbus ingress: an HTTP server that receives webhooks at
// POST /webhooks/{source}, verifies each one over its raw bytes, and stores it on the
// JetStream stream WEBHOOKS before it answers 2xx.
//
// Answers (the HTTP contract):
//
//	200  stored, JSON {"id":…,"seq":…,"duplicate":false}; a repeat of a stored delivery
//	     answers the same with "duplicate":true and stores nothing new
//	401  missing or invalid signature, or a timestamp outside the tolerance
//	404  unknown (or disabled) source
//	405  method other than POST, with Allow: POST
//	413  body over the source's limit; the rest of the body is not read
//	503  the stream could not confirm the write in time, with Retry-After
//
// Nothing is ever answered 2xx unless JetStream acknowledged the write.
package bridge

// Package relay is the hookbus relay, a built-in agent that turns bus events into outgoing
// webhooks: each configured endpoint receives the events matching its subject filters as
// HTTP POSTs, and a task that names a callback URL under an allowed destination has its
// outcome delivered there.
//
// Every delivery is signed per Standard Webhooks: webhook-id is the event id (the same on
// every attempt, so receivers de-duplicate), webhook-timestamp the attempt's unix time, and
// webhook-signature one "v1,<base64 HMAC-SHA256 of id.timestamp.body>" per configured
// "whsec_" secret. The body is the event's payload, byte for byte.
//
// Each endpoint has its own durable consumer relay-<endpoint> (an agents.Agent), so retry
// state lives in JetStream: a failed attempt (network error, timeout, 408, 429, 5xx) is
// redelivered after the next step of the endpoint's schedule, also across restarts; a 410
// disables the endpoint (recorded in the KV bucket BucketState) and its events wait; any
// other answer but 2xx, and an attempt past the schedule, dead-letters the event on
// dlq.relay-<endpoint>. Per endpoint, a concurrency bound, a rate limit and a circuit
// breaker keep one slow or dead endpoint from affecting the others; Retry-After holds the
// endpoint's attempts inside the relay, up to MaxHold.
//
// Every connection is checked when it is dialled (SSRF): loopback, private, link-local,
// metadata, unspecified, multicast and reserved addresses are refused unless the config
// allows them. Every attempt is recorded as an event of the relay,
// agents.relay.events.delivery.<outcome>, with an Attempt as its body.
//
// With Config.Admin.Listen set, the relay serves Prometheus metrics at /metrics — attempts
// by endpoint and outcome (hookbus_relay_deliveries_total), latency, requests in flight,
// and each endpoint's state (enabled, circuit open) — and /healthz and /readyz for
// probes. The endpoint label is the configured name ("cb-<destination>" for a callback
// destination), never a URL or an id.
package relay

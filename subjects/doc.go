// Package subjects is the contract that the hookbus bridge and its agents share: the grammar
// of every subject on the bus, the sanitising of tokens that come from the outside world, the
// header names of the event envelope, and the definitions of the JetStream streams.
//
// Subjects:
//
//	webhooks.<source>.<event tokens…>     ingress, e.g. webhooks.github.issues.opened
//	agents.<agent>.events.<type tokens…>  an agent's own events, e.g. agents.triage.events.issue.triaged
//	agents.<agent>.tasks.<kind>           tasks delegated to an agent
//	dlq.<agent>                           an agent's dead letters
//
// Tokens from outside (provider event types, names) are reduced to [A-Za-z0-9_-]: a '.', '*',
// '>', whitespace, a control byte or an empty token can never reach a subject, so no outside
// value can change which subject is written or turn it into a wildcard.
//
// This package depends on the standard library and nats.go types only.
package subjects

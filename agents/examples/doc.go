// Package examples holds the example agents of hookbus, the seed scenario in which one
// agent's event drives another:
//
//	webhooks.github.issues.opened ─▶ triage ─▶ agents.triage.events.issue.triaged
//	                                            ─▶ notify ─▶ agents.notify.events.message.sent
//
// Each runs as its own process: go run ./agents/examples/triage, go run ./agents/examples/notify.
package examples

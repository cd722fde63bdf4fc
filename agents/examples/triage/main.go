// Command triage is the example agent that decides a priority for every GitHub issue event
// and emits agents.triage.events.issue.triaged.
package main

import (
	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/examples"
)

func main() { agents.Main(examples.TriageConfig()) }

package subjects_test

import (
	"fmt"

	"github.com/hookbus/hookbus/subjects"
)

func ExampleWebhook() {
	fmt.Println(subjects.Webhook("github", "issues.opened"))
	fmt.Println(subjects.Webhook("demo", "lead.*.new > old"))
	// Output:
	// webhooks.github.issues.opened
	// webhooks.demo.lead._.new___old
}

func ExampleAgentEvent() {
	fmt.Println(subjects.AgentEvent("triage", "issue.triaged"))
	fmt.Println(subjects.AgentEvents("triage"))
	// Output:
	// agents.triage.events.issue.triaged
	// agents.triage.events.>
}

func ExampleReplay() {
	copied := subjects.Replay("triage", "webhooks.github.issues.opened")
	p, _ := subjects.Parse(copied)
	fmt.Println(copied)
	fmt.Println(subjects.Replays("triage"))
	fmt.Println(p.Kind, p.Owner, p.Type)
	// Output:
	// agents.triage.replay.webhooks.github.issues.opened
	// agents.triage.replay.>
	// replay triage webhooks.github.issues.opened
}

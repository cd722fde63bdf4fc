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

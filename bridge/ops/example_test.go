package ops_test

import (
	"fmt"
	"time"

	"github.com/hookbus/hookbus/bridge/ops"
)

// The time flags of the tools take a duration back from now or a time.
func ExampleParseTime() {
	now := time.Date(2026, 5, 1, 16, 0, 0, 0, time.UTC)
	for _, s := range []string{"2h", "1d12h", "2026-05-01T09:30:00Z", "2026-05-01 09:30", "yesterday"} {
		t, err := ops.ParseTime(s, now, time.UTC)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(t.Format(time.RFC3339))
	}
	// Output:
	// 2026-05-01T14:00:00Z
	// 2026-04-30T04:00:00Z
	// 2026-05-01T09:30:00Z
	// 2026-05-01T09:30:00Z
	// invalid argument: "yesterday" is neither a duration (90m, 2h, 3d) nor a time (2026-05-01T14:00:00Z, 2026-05-01 14:00)
}

// A copy meant for one agent goes to its replay subject, which only that agent's consumer
// reads.
func ExampleReplaySubject() {
	fmt.Println(ops.ReplaySubject("triage", "webhooks.github.issues.opened"))
	fmt.Println(ops.ReplayFilter("triage"))
	// Output:
	// agents.triage.replay.webhooks.github.issues.opened
	// agents.triage.replay.>
}

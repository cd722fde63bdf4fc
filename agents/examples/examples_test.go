package examples_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/hookbus/hookbus/agents/examples"
)

func TestPrioritize(t *testing.T) {
	tests := []struct {
		name     string
		title    string
		labels   []string
		priority string
		reasons  int
	}{
		{"bug label", "Button misaligned", []string{"bug"}, examples.PriorityHigh, 1},
		{"label case", "x", []string{"Security"}, examples.PriorityHigh, 1},
		{"title word", "Server crash at startup", nil, examples.PriorityHigh, 1},
		{"high beats low", "Docs page is down", []string{"documentation"}, examples.PriorityHigh, 1},
		{"two signals", "Security hole", []string{"p0"}, examples.PriorityHigh, 2},
		{"question", "How do I configure it?", []string{"question"}, examples.PriorityLow, 1},
		{"nothing", "Add dark mode", nil, examples.PriorityNormal, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, r := examples.Prioritize(tt.title, tt.labels)
			if p != tt.priority || len(r) != tt.reasons {
				t.Fatalf("Prioritize(%q, %v) = %s %v", tt.title, tt.labels, p, r)
			}
		})
	}
}

func TestConfigs(t *testing.T) {
	for _, c := range []struct {
		name, filter string
		cfg          func() (string, []string)
	}{
		{"triage", "webhooks.github.issues.>", func() (string, []string) { c := examples.TriageConfig(); return c.Name, c.Subjects }},
		{"notify", "agents.triage.events.>", func() (string, []string) { c := examples.NotifyConfig(""); return c.Name, c.Subjects }},
	} {
		name, subs := c.cfg()
		if name != c.name || !slices.Equal(subs, []string{c.filter}) {
			t.Errorf("%s config: %s %v", c.name, name, subs)
		}
	}
}

func ExamplePrioritize() {
	fmt.Println(examples.Prioritize("Checkout crashes", []string{"enhancement"}))
	// Output: high [title mentions "crash"]
}

package examples

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hookbus/hookbus/agents"
	"github.com/rs/zerolog"
)

// Priorities that Triage assigns.
const (
	PriorityHigh   = "high"
	PriorityNormal = "normal"
	PriorityLow    = "low"
)

// TriagedEvent is the type Triage emits: agents.triage.events.issue.triaged.
const TriagedEvent = "issue.triaged"

// Triaged is the payload of a TriagedEvent.
type Triaged struct {
	Repository string   `json:"repository"`
	Number     int      `json:"number"`
	Title      string   `json:"title"`
	URL        string   `json:"url"`
	Action     string   `json:"action"`
	Priority   string   `json:"priority"`
	Reasons    []string `json:"reasons"`
}

// Triage decides a priority for GitHub issues from their labels and title, and emits
// issue.triaged for issues opened, reopened, edited, labeled or unlabeled. Other actions
// (closed, assigned, …) are acknowledged without an event.
type Triage struct{}

var _ agents.Handler = Triage{}

// TriageConfig is the agent configuration of Triage.
func TriageConfig() agents.Config {
	return agents.Config{Name: "triage", Subjects: []string{"webhooks.github.issues.>"}, Handler: Triage{}}
}

type githubIssueEvent struct {
	Action string `json:"action"`
	Issue  struct {
		Number  int    `json:"number"`
		Title   string `json:"title"`
		HTMLURL string `json:"html_url"`
		Labels  []struct {
			Name string `json:"name"`
		} `json:"labels"`
	} `json:"issue"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

var triagedActions = map[string]bool{"opened": true, "reopened": true, "edited": true, "labeled": true, "unlabeled": true}

// Handle triages one issues event. A payload that is not an issues event JSON is a
// permanent problem of that event, not of the agent: it is logged and acknowledged.
func (Triage) Handle(ctx context.Context, ev *agents.Event) error {
	log := zerolog.Ctx(ctx)
	var in githubIssueEvent
	if err := json.Unmarshal(ev.Data, &in); err != nil || in.Issue.Number == 0 {
		log.Warn().Err(err).Msg("not a GitHub issues payload; skipped")
		return nil
	}
	if !triagedActions[in.Action] {
		log.Debug().Str("action", in.Action).Msg("action not triaged")
		return nil
	}
	labels := make([]string, len(in.Issue.Labels))
	for i, l := range in.Issue.Labels {
		labels[i] = l.Name
	}
	priority, reasons := Prioritize(in.Issue.Title, labels)
	out, err := json.Marshal(Triaged{
		Repository: in.Repository.FullName,
		Number:     in.Issue.Number,
		Title:      in.Issue.Title,
		URL:        in.Issue.HTMLURL,
		Action:     in.Action,
		Priority:   priority,
		Reasons:    reasons,
	})
	if err != nil {
		return err
	}
	em, err := ev.Emit(ctx, TriagedEvent, out)
	if err != nil {
		return err
	}
	log.Info().Str("repository", in.Repository.FullName).Int("issue", in.Issue.Number).
		Str("priority", priority).Str("emitted", em.ID).Bool("duplicate", em.Duplicate).Msg("issue triaged")
	return nil
}

var (
	highLabels = []string{"bug", "security", "critical", "p0", "p1", "regression", "outage"}
	lowLabels  = []string{"question", "documentation", "docs", "enhancement", "good first issue", "wontfix"}
	highWords  = []string{"crash", "panic", "outage", "down", "security", "vulnerability", "data loss", "urgent", "broken"}
)

// Prioritize decides a priority from an issue's title and labels, with the reasons that led
// to it. A high signal in labels or title wins over a low label.
func Prioritize(title string, labels []string) (priority string, reasons []string) {
	t := strings.ToLower(title)
	for _, l := range labels {
		if containsFold(highLabels, l) {
			reasons = append(reasons, fmt.Sprintf("label %q", l))
		}
	}
	for _, w := range highWords {
		if strings.Contains(t, w) {
			reasons = append(reasons, fmt.Sprintf("title mentions %q", w))
		}
	}
	if len(reasons) > 0 {
		return PriorityHigh, reasons
	}
	for _, l := range labels {
		if containsFold(lowLabels, l) {
			reasons = append(reasons, fmt.Sprintf("label %q", l))
		}
	}
	if len(reasons) > 0 {
		return PriorityLow, reasons
	}
	return PriorityNormal, []string{"no signal in labels or title"}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

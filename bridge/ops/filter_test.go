package ops_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hookbus/hookbus/bridge/ops"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, subject string
		want            bool
	}{
		{"webhooks.>", "webhooks.github.issues.opened", true},
		{"webhooks.>", "webhooks", false},
		{"webhooks.*.issues.>", "webhooks.github.issues.opened", true},
		{"webhooks.*", "webhooks.github.issues", false},
		{"webhooks.github", "webhooks.github", true},
		{"webhooks.github", "webhooks.gitlab", false},
		{">", "dlq.a", true},
		{"*.a", "dlq.a", true},
		{"agents.a.replay.>", "agents.a.replay.webhooks.x.y", true},
		{"a.b.c", "a.b", false},
	}
	for _, tt := range tests {
		if got := ops.Match(tt.filter, tt.subject); got != tt.want {
			t.Errorf("Match(%q, %q) = %v", tt.filter, tt.subject, got)
		}
	}
	if !ops.Overlaps("agents.>", ops.ReplayFilter("a")) || ops.Overlaps("agents.*.events.>", ops.ReplayFilter("a")) ||
		!ops.Overlaps("agents.a.*.>", "agents.*.replay.x") || ops.Overlaps("a.b", "a.b.c") {
		t.Error("Overlaps")
	}
}

func TestValidFilter(t *testing.T) {
	for _, f := range []string{"webhooks.>", "*.github.>", ">", "a.*.c", "agents.triage.events.issue.triaged"} {
		if err := ops.ValidFilter(f); err != nil {
			t.Errorf("ValidFilter(%q) = %v", f, err)
		}
	}
	for _, f := range []string{"", ".", "a..b", "a.>.b", "a.b*", "a b", "a.\x01", "a.", ">>"} {
		if err := ops.ValidFilter(f); !errors.Is(err, ops.ErrInvalid) {
			t.Errorf("ValidFilter(%q) = %v, want ErrInvalid", f, err)
		}
	}
	if ops.ValidSubject("webhooks.a.b") != nil || ops.ValidSubject("webhooks.a.*") == nil || ops.ValidSubject("other.a") == nil {
		t.Error("ValidSubject")
	}
}

// FuzzMatch compares Match with the same wildcards written as a regular expression.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"webhooks.>", "webhooks.a.b"}, {"a.*.c", "a.b.c"}, {">", "a"}, {"a.*", "a.b.c"}, {"*", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, subject string) {
		if ops.ValidFilter(filter) != nil || ops.ValidFilter(subject) != nil || strings.ContainsAny(subject, "*>") ||
			!utf8.ValidString(filter) || !utf8.ValidString(subject) { // the reference regexp wants UTF-8
			return
		}
		var re strings.Builder
		re.WriteString("^")
		for i, tok := range strings.Split(filter, ".") {
			if i > 0 {
				re.WriteString(`\.`)
			}
			switch tok {
			case "*":
				re.WriteString(`[^.]+`)
			case ">":
				re.WriteString(`.+`)
			default:
				re.WriteString(regexp.QuoteMeta(tok))
			}
		}
		re.WriteString("$")
		if want := regexp.MustCompile(re.String()).MatchString(subject); ops.Match(filter, subject) != want {
			t.Fatalf("Match(%q, %q) = %v, want %v", filter, subject, !want, want)
		}
		if ops.Match(filter, subject) && !ops.Overlaps(filter, subject) {
			t.Fatalf("Match(%q, %q) without Overlaps", filter, subject)
		}
	})
}

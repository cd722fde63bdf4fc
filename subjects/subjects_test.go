package subjects

import (
	"errors"
	"strings"
	"testing"
)

func TestWebhook(t *testing.T) {
	tests := []struct {
		name, source, event, want string
	}{
		{"github", "github", "issues.opened", "webhooks.github.issues.opened"},
		{"stripe", "stripe", "invoice.paid", "webhooks.stripe.invoice.paid"},
		{"single token", "github", "ping", "webhooks.github.ping"},
		{"empty event", "demo", "", "webhooks.demo._"},
		{"wildcards", "demo", "a.*.>", "webhooks.demo.a._._"},
		{"whitespace", "demo", "new lead\t!", "webhooks.demo.new_lead__"},
		{"empty tokens", "demo", "..x.", "webhooks.demo._._.x._"},
		{"control bytes", "demo", "a\x00b\nc", "webhooks.demo.a_b_c"},
		{"unicode", "demo", "café", "webhooks.demo.caf__"},
		{"too many tokens", "demo", "1.2.3.4.5.6.7.8.9.10", "webhooks.demo.1.2.3.4.5.6.7.8_9_10"},
		{"long token", "demo", strings.Repeat("x", 100), "webhooks.demo." + strings.Repeat("x", MaxTokenLen)},
		{"bad source", "de.mo", "x", "webhooks.de_mo.x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Webhook(tt.source, tt.event); got != tt.want {
				t.Fatalf("Webhook(%q, %q) = %q, want %q", tt.source, tt.event, got, tt.want)
			}
		})
	}
}

func TestAgentSubjects(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"event", AgentEvent("triage", "issue.triaged"), "agents.triage.events.issue.triaged"},
		{"event sanitised", AgentEvent("triage", "a b.>"), "agents.triage.events.a_b._"},
		{"events filter", AgentEvents("triage"), "agents.triage.events.>"},
		{"task", Task("writer", "draft.reply"), "agents.writer.tasks.draft_reply"},
		{"dlq", DLQ("notify"), "dlq.notify"},
		{"rpc", RPC("pricing", "quote.now"), "rpc.pricing.quote_now"},
		{"task status", TaskStatus("writer", "triage", TaskCompleted), "agents.writer.events.task.triage.completed"},
		{"task statuses", TaskStatuses("triage"), "agents.*.events.task.triage.>"},
		{"tasks", Tasks("writer"), "agents.writer.tasks.>"},
		{"replay", Replay("triage", "webhooks.github.issues.opened"), "agents.triage.replay.webhooks.github.issues.opened"},
		{"replays", Replays("triage"), "agents.triage.replay.>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	good := []struct {
		subject string
		want    Parsed
	}{
		{"webhooks.github.issues.opened", Parsed{Root: WebhooksRoot, Owner: "github", Type: "issues.opened"}},
		{"agents.triage.events.issue.triaged", Parsed{Root: AgentsRoot, Owner: "triage", Kind: "events", Type: "issue.triaged"}},
		{"agents.writer.tasks.draft", Parsed{Root: AgentsRoot, Owner: "writer", Kind: "tasks", Type: "draft"}},
		{"dlq.notify", Parsed{Root: DLQRoot, Owner: "notify"}},
		{"agents.triage.replay.webhooks.github.issues.opened", Parsed{Root: AgentsRoot, Owner: "triage", Kind: "replay", Type: "webhooks.github.issues.opened"}},
		{"agents.notify.replay.agents.triage.events.issue.triaged", Parsed{Root: AgentsRoot, Owner: "notify", Kind: "replay", Type: "agents.triage.events.issue.triaged"}},
		{"agents.writer.replay.agents.writer.tasks.draft", Parsed{Root: AgentsRoot, Owner: "writer", Kind: "replay", Type: "agents.writer.tasks.draft"}},
	}
	for _, tt := range good {
		t.Run(tt.subject, func(t *testing.T) {
			got, err := Parse(tt.subject)
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tt.subject, got, err, tt.want)
			}
		})
	}
	bad := []string{"", "webhooks", "webhooks.github", "webhooks.github.>", "webhooks..x", "agents.a.events",
		"agents.a.other.x", "agents.a.tasks.x.y", "dlq", "dlq.a.b", "other.a.b", "webhooks.git hub.x", "webhooks.*.x",
		"agents.a.replay", "agents.a.replay.x", "agents.a.replay.webhooks.github", "agents.a.replay.agents.b.other.x", "agents.a.replay.webhooks.*.x"}
	for _, s := range bad {
		t.Run("bad/"+s, func(t *testing.T) {
			if _, err := Parse(s); !errors.Is(err, ErrInvalidSubject) {
				t.Fatalf("Parse(%q) error = %v, want ErrInvalidSubject", s, err)
			}
		})
	}
}

// TestReplayParsesBack checks that a copy's subject gives back its agent and original.
func TestReplayParsesBack(t *testing.T) {
	for _, original := range []string{"webhooks.github.issues.opened", "agents.triage.events.issue.triaged", "agents.writer.tasks.draft", "dlq.notify"} {
		p, err := Parse(Replay("crm", original))
		if err != nil || p.Kind != "replay" || p.Owner != "crm" || p.Type != original {
			t.Errorf("Parse(Replay(crm, %q)) = %+v, %v", original, p, err)
		}
		if !Covers(Replays("crm"), Replay("crm", original)) || Covers(Replays("crm"), Replay("crma", original)) {
			t.Errorf("Replays(crm) does not match exactly crm's copies of %q", original)
		}
	}
}

func TestCoversAndOverlaps(t *testing.T) {
	tests := []struct {
		filter, other   string
		covers, overlap bool
	}{
		{"agents.>", "agents.triage.replay.>", true, true},
		{"agents.triage.>", "agents.triage.replay.>", true, true},
		{"agents.*.replay.>", "agents.triage.replay.>", true, true},
		{"agents.triage.replay.>", "agents.triage.replay.>", true, true},
		{"agents.triage.replay.>", "agents.triage.replay.webhooks.>", true, true},
		{"agents.triage.replay.webhooks.>", "agents.triage.replay.>", false, true},
		{"agents.*.replay.webhooks.>", "agents.triage.replay.>", false, true},
		{"agents.triage.replay.*", "agents.triage.replay.>", false, true},
		{"agents.triage.replay.>", "agents.triage.replay", false, false},
		{"agents.*.events.>", "agents.triage.replay.>", false, false},
		{"webhooks.>", "agents.triage.replay.>", false, false},
		{"agents.triage.replay.>", "agents.triage.replay.webhooks.github.x", true, true},
		{"agents.*.x", "agents.*.x", true, true},
		{"agents.a.x", "agents.*.x", false, true},
		{">", "a", true, true},
	}
	for _, tt := range tests {
		if got := Covers(tt.filter, tt.other); got != tt.covers {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.filter, tt.other, got, tt.covers)
		}
		if got := Overlaps(tt.filter, tt.other); got != tt.overlap {
			t.Errorf("Overlaps(%q, %q) = %v, want %v", tt.filter, tt.other, got, tt.overlap)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"github", "a", "my-source_2", "0x", strings.Repeat("a", 64)} {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range []string{"", "GitHub", "-x", "_x", "a.b", "a b", "a*", "a>", strings.Repeat("a", 65), "é"} {
		if err := ValidName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func TestStreamFor(t *testing.T) {
	for subject, want := range map[string]string{
		"webhooks.github.>":      StreamWebhooks,
		"webhooks.>":             StreamWebhooks,
		"agents.triage.events.>": StreamAgents,
		"dlq.notify":             StreamDLQ,
		"dlq":                    StreamDLQ,
		"other.x":                "",
		">":                      "",
	} {
		if got := StreamFor(subject); got != want {
			t.Errorf("StreamFor(%q) = %q, want %q", subject, got, want)
		}
	}
	for _, sc := range Streams(StreamOptions{}) {
		if StreamFor(sc.Subjects[0]) != sc.Name {
			t.Errorf("stream %s subjects %v do not map back to it", sc.Name, sc.Subjects)
		}
		if sc.Replicas != 1 || sc.Duplicates != DefaultDuplicateWindow {
			t.Errorf("stream %s defaults: replicas %d duplicates %v", sc.Name, sc.Replicas, sc.Duplicates)
		}
	}
}

func TestIDs(t *testing.T) {
	if got := WebhookID("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958"); got != "github:72d3162e-cc78-11e3-81ab-4c9367dc0958" {
		t.Errorf("readable id = %q", got)
	}
	odd := WebhookID("github", "a b")
	if !strings.HasPrefix(odd, "github:sha256:") || len(odd) != len("github:sha256:")+64 {
		t.Errorf("unreadable id = %q", odd)
	}
	if WebhookID("github", "x") == WebhookID("stripe", "x") {
		t.Error("ids of two sources collide")
	}
	if a1, a2 := BodyID("demo", []byte("a")), BodyID("demo", []byte{'a'}); a1 != a2 || a1 == BodyID("demo", []byte("b")) {
		t.Error("BodyID not a function of the body")
	}
	a := DerivedID("github:1", "triage", "issue.triaged", 0)
	if len(a) != 32 || a != DerivedID("github:1", "triage", "issue.triaged", 0) {
		t.Fatalf("DerivedID not stable: %q", a)
	}
	for _, other := range []string{
		DerivedID("github:2", "triage", "issue.triaged", 0),
		DerivedID("github:1", "notify", "issue.triaged", 0),
		DerivedID("github:1", "triage", "issue.other", 0),
		DerivedID("github:1", "triage", "issue.triaged", 1),
		DerivedID("github:1tr", "iage", "issue.triaged", 0),
	} {
		if other == a {
			t.Errorf("DerivedID collision with %q", other)
		}
	}
}

// FuzzWebhook checks that no outside event type can produce a subject outside the source's
// own hierarchy, a wildcard, an empty token or whitespace.
func FuzzWebhook(f *testing.F) {
	for _, s := range []string{"issues.opened", "", ".", "*", ">", "a..b", "a b", "\x00", "a.>", strings.Repeat("x.", 40)} {
		f.Add("github", s)
	}
	f.Fuzz(func(t *testing.T, source, event string) {
		subj := Webhook(source, event)
		p, err := Parse(subj)
		if err != nil {
			t.Fatalf("Webhook(%q, %q) = %q does not parse: %v", source, event, subj, err)
		}
		if p.Root != WebhooksRoot || p.Owner != Token(source) {
			t.Fatalf("Webhook(%q, %q) = %q escaped its source", source, event, subj)
		}
		toks := strings.Split(subj, ".")
		if len(toks) > 2+MaxEventTokens {
			t.Fatalf("too many tokens in %q", subj)
		}
		for _, tok := range toks {
			if tok == "" || !clean(tok) {
				t.Fatalf("bad token %q in %q", tok, subj)
			}
		}
		if ae := AgentEvent(source, event); !strings.HasPrefix(ae, "agents."+Token(source)+".events.") {
			t.Fatalf("AgentEvent(%q, %q) = %q", source, event, ae)
		}
	})
}

// FuzzParse checks that Parse never panics and that what it accepts has no empty token.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"webhooks.github.issues.opened", "agents.a.events.b", "dlq.a", "", "..", "agents.a.tasks.>", "agents.a.replay.webhooks.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		if p.Owner == "" || (p.Root != DLQRoot && p.Type == "") {
			t.Fatalf("Parse(%q) accepted %+v", s, p)
		}
	})
}

func BenchmarkWebhook(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Webhook("github", "issues.opened")
	}
}

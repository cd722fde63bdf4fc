package relay

import (
	"strings"
	"testing"

	"github.com/hookbus/hookbus/subjects"
)

// TestCallbackPrefixMatching: only URLs with the prefix's scheme, host and port and a path
// under its path are allowed.
func TestCallbackPrefixMatching(t *testing.T) {
	prefix, msg := checkPrefix("https://hooks.example.com/a/b", &SSRF{})
	if msg != "" {
		t.Fatal(msg)
	}
	allowed := func(raw string) bool { return underPrefix(prefix, raw) }
	for url, want := range map[string]bool{
		"https://hooks.example.com/a/b":              true,
		"https://hooks.example.com/a/b/c?x=1":        true,
		"https://HOOKS.example.com/a/b/c":            true,
		"https://hooks.example.com/a/bc":             false,
		"https://hooks.example.com/a/b/../../admin":  false,
		"https://hooks.example.com/a/b/%2e%2e/admin": false,
		"https://hooks.example.com.evil.com/a/b":     false,
		"https://hooks.example.com:8443/a/b":         false,
		"http://hooks.example.com/a/b":               false,
		"https://user@hooks.example.com/a/b":         false,
		"https://hooks.example.com/a/b#x":            false,
		"hooks.example.com/a/b":                      false,
		"":                                           false,
	} {
		if got := allowed(url); got != want {
			t.Errorf("%q: allowed %v, want %v", url, got, want)
		}
	}
}

// TestTaskOutcomeFilters: the filters match the status subjects the SDK writes.
func TestTaskOutcomeFilters(t *testing.T) {
	match := func(filter, subject string) bool {
		f, s := strings.Split(filter, "."), strings.Split(subject, ".")
		if len(f) != len(s) {
			return false
		}
		for i := range f {
			if f[i] != "*" && f[i] != s[i] {
				return false
			}
		}
		return true
	}
	for _, state := range []string{subjects.TaskCompleted, subjects.TaskFailed, subjects.TaskWorking, subjects.TaskTimedOut} {
		subj := subjects.TaskStatus("writer", "triage", state)
		n := 0
		for _, f := range taskOutcomeFilters() {
			if match(f, subj) {
				n++
			}
		}
		want := 0
		if state == subjects.TaskCompleted || state == subjects.TaskFailed {
			want = 1
		}
		if n != want {
			t.Errorf("%s matched by %d filters, want %d", subj, n, want)
		}
	}
}

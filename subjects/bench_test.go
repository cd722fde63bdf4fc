package subjects

import (
	"strings"
	"testing"
)

// The builders below run once per request or per emitted event; their allocations are the
// figure to watch (go test -bench . -benchmem ./subjects).

func BenchmarkAgentEvent(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = AgentEvent("triage", "issue.triaged")
	}
}

func BenchmarkDerivedID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = DerivedID("github:72d3162e-cc78-11e3-81ab-4c9367dc0958", "triage", "issue.triaged", 0)
	}
}

func BenchmarkWebhookID(b *testing.B) {
	b.Run("readable", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = WebhookID("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		}
	})
	b.Run("hashed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = WebhookID("github", "an id with spaces")
		}
	})
}

func BenchmarkBodyID(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_ = BodyID("demo", body)
	}
}

func BenchmarkToken(b *testing.B) {
	b.Run("clean", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Token("issues")
		}
	})
	b.Run("dirty", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Token("new lead!")
		}
	})
}

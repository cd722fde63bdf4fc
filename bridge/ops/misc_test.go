package ops_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/ops"
)

func TestPreview(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 80, ""},
		{`{"a":1}`, 80, `{"a":1}`},
		{"line\none\ttab", 80, "line one tab"},
		{"bad \xff byte", 80, "bad ? byte"},
		{strings.Repeat("é", 100), 10, strings.Repeat("é", 10) + "…"},
		{"\x1b[31mred\x1b[0m", 80, " [31mred [0m"},
		{"ok\u2028line\u0085break", 80, "ok line break"},
	}
	for _, tt := range tests {
		if got := ops.Preview([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("Preview(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestProgress(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(0, 0)
	p := ops.NewProgressClock(&out, false, "replay", func() time.Time { return clock })
	p.Update(0, 100)
	clock = clock.Add(time.Second)
	p.Update(10, 100)
	clock = clock.Add(time.Second)
	p.Update(20, 100) // too soon for another plain line
	clock = clock.Add(10 * time.Second)
	p.Update(100, 100)
	p.Finish()
	want := "replay 10/100 (10%) 10/s ETA 9s\nreplay 100/100 (100%) 8/s in 12s\n"
	if out.String() != want {
		t.Fatalf("plain progress:\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	clock = time.Unix(0, 0)
	p = ops.NewProgressClock(&out, true, "redrive", func() time.Time { return clock })
	p.Update(0, 4)
	clock = clock.Add(time.Second)
	p.Update(2, 4)
	p.Finish()
	if got := out.String(); !strings.Contains(got, "\r\x1b[Kredrive [>") || !strings.Contains(got, "[============>           ] 2/4 (50%) 2/s ETA 1s") || !strings.HasSuffix(got, "\n") {
		t.Fatalf("terminal progress: %q", got)
	}
}

func TestWebhookURL(t *testing.T) {
	for base, want := range map[string]string{
		"127.0.0.1:8080":                           "http://127.0.0.1:8080/webhooks/demo",
		"http://127.0.0.1:8080/":                   "http://127.0.0.1:8080/webhooks/demo",
		"https://hooks.example.com/webhooks/other": "https://hooks.example.com/webhooks/other",
	} {
		if got, err := ops.WebhookURL(base, "demo"); err != nil || got != want {
			t.Errorf("WebhookURL(%q) = %q, %v; want %q", base, got, err, want)
		}
	}
	for _, base := range []string{"ftp://x", "http://", "::"} {
		if _, err := ops.WebhookURL(base, "demo"); !errors.Is(err, ops.ErrInvalid) {
			t.Errorf("WebhookURL(%q) = %v, want ErrInvalid", base, err)
		}
	}
}

func TestTargetOf(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{NATS: config.NATS{Embedded: &config.Embedded{Listen: "0.0.0.0:4333", Auth: &config.Auth{CredentialsDir: dir}}}}
	if _, err := ops.TargetOf(cfg, ""); err == nil || !strings.Contains(err.Error(), "start the bridge once") {
		t.Fatalf("missing password file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "hookbus.password"), []byte("pw\n"), 0o600)
	tg, err := ops.TargetOf(cfg, "")
	if err != nil || tg.URL != "nats://127.0.0.1:4333" || tg.User != "hookbus" || tg.Password != "pw" {
		t.Fatalf("embedded target: %+v %v", tg, err)
	}
	if tg, _ := ops.TargetOf(cfg, "nats://other:4222"); tg.URL != "nats://other:4222" || tg.Password != "pw" {
		t.Fatalf("--nats keeps the login: %+v", tg)
	}
	cfg = &config.Config{NATS: config.NATS{URL: "nats://a:4222,nats://b:4222", Creds: "x.creds"}}
	if tg, _ := ops.TargetOf(cfg, ""); tg.URL != "nats://a:4222,nats://b:4222" || tg.Creds != "x.creds" {
		t.Fatalf("url target: %+v", tg)
	}
	if _, err := ops.TargetOf(nil, ""); !errors.Is(err, ops.ErrInvalid) {
		t.Fatalf("no config, no url: %v", err)
	}
	if _, err := ops.Connect(ops.Target{URL: "nats://u:secret@127.0.0.1:1"}, "t"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("connect error shows the password or succeeds: %v", err)
	}
}

package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCheckCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", "../../../configs/hookbus.yaml"}, &out, &errOut); code != 0 {
		t.Fatalf("check of the default config: exit %d, %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "source github") || !strings.Contains(out.String(), "is not set") {
		t.Fatalf("check output:\n%s", out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("nats: {embedded: {}}\nsources:\n  a: {verify: none, colour: red}\n"), 0o600)
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check", "--config", bad}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "bad.yaml:3:21: unknown key \"colour\"") {
		t.Fatalf("bad config: exit %d, %q", code, errOut.String())
	}
	for _, args := range [][]string{{}, {"nope"}, {"check", "--nope"}, {"serve", "extra"}} {
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
	if code := run([]string{"serve", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, &out, &errOut); code != 1 {
		t.Errorf("missing config file: exit %d, want 1", code)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeProcess runs the real binary: it starts on a config, stores a webhook, and on
// SIGTERM stops cleanly with exit status 0 and its store closed; started again on the same
// store, it still knows the delivery.
func TestServeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "hookbus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	httpAddr, adminAddr, natsAddr := freePort(t), freePort(t), freePort(t)
	cfg := filepath.Join(dir, "hookbus.yaml")
	os.WriteFile(cfg, []byte(`log: {format: json}
http: {listen: "`+httpAddr+`"}
admin: {listen: "`+adminAddr+`"}
nats:
  embedded: {listen: "`+natsAddr+`", store_dir: "`+filepath.Join(dir, "data")+`"}
sources:
  demo: {verify: hmac-sha256, header: X-Signature, id_header: X-Id, secrets: ["s"]}
`), 0o600)
	body := []byte(`{"hello":"world"}`)
	m := hmac.New(sha256.New, []byte("s"))
	m.Write(body)
	sig := hex.EncodeToString(m.Sum(nil))
	send := func() string {
		req, _ := http.NewRequest("POST", "http://"+httpAddr+"/webhooks/demo", bytes.NewReader(body))
		req.Header.Set("X-Signature", sig)
		req.Header.Set("X-Id", "p-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return b.String()
	}
	for i, want := range []string{`"duplicate":false`, `"duplicate":true`} {
		var logs bytes.Buffer
		cmd := exec.Command(bin, "serve", "--config", cfg)
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get("http://" + adminAddr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("run %d not ready:\n%s", i, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := send(); !strings.Contains(got, want) || !strings.Contains(got, `"seq":1`) {
			t.Errorf("run %d answered %s, want %s", i, got, want)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("run %d exit: %v\n%s", i, err, logs.String())
		}
		if !strings.Contains(logs.String(), "store closed") {
			t.Fatalf("run %d did not close the store:\n%s", i, logs.String())
		}
	}
}

package bridge_test

import (
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// crashConfig runs the real binary on its embedded JetStream with a fixed store, so that a
// process started again after a kill finds everything the killed one stored.
const crashConfig = `
log: {format: json}
http: {listen: "${HTTP}"}
admin: {listen: "${ADMIN}"}
nats:
  embedded: {listen: "${NATS}", store_dir: "${STORE}"}
  publish_timeout: 2s
sources:
  github:
    verify: github
    secrets: ["` + githubSecret + `"]
`

// process is the hookbus binary, started and killed by a test.
type process struct {
	t                 *testing.T
	bin, config, logs string
	admin             string
	cmd               *exec.Cmd
}

// start runs the binary and waits until /readyz answers 200.
func (p *process) start() time.Duration {
	p.t.Helper()
	began := time.Now()
	logs, err := os.OpenFile(p.logs, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logs.Close()
	p.cmd = exec.Command(p.bin, "serve", "--config", p.config)
	p.cmd.Stdout, p.cmd.Stderr = logs, logs
	dieWithTest(p.cmd)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(began)
			}
		}
		if time.Now().After(deadline) {
			p.kill()
			out, _ := os.ReadFile(p.logs)
			p.t.Fatalf("hookbus not ready:\n%s", tail(string(out), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop asks the process to shut down (SIGTERM) and waits until it has.
func (p *process) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("hookbus after SIGTERM: %v", err)
	}
	p.cmd = nil
}

// kill sends SIGKILL: no shutdown, no drain, no store closed.
func (p *process) kill() {
	if p.cmd != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// newProcess builds the hookbus binary and writes config (crashConfig or one like it) for
// it with free loopback addresses and a store in a temporary directory.
func newProcess(t *testing.T, config string) (p *process, httpAddr, natsAddr string) {
	began := time.Now()
	dir := t.TempDir()
	bin := filepath.Join(dir, "hookbus")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/hookbus").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	t.Logf("built in %s", time.Since(began).Round(time.Millisecond))
	httpAddr, adminAddr, natsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "hookbus.yaml")
	text := strings.NewReplacer("${HTTP}", httpAddr, "${ADMIN}", adminAddr, "${NATS}", natsAddr,
		"${STORE}", filepath.Join(dir, "data")).Replace(config)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p = &process{t: t, bin: bin, config: cfg, logs: filepath.Join(dir, "hookbus.log"), admin: adminAddr}
	t.Cleanup(p.kill)
	return p, httpAddr, natsAddr
}

// TestCrashKeepsDedupe: ids the dedupe index held only in memory when the process was
// killed (stored within seconds of its start, long before a checkpoint) are read back from
// the stream at the next start, so that retries that come after the stream's own
// duplicate window are answered as duplicates of the stored events, never stored again.
func TestCrashKeepsDedupe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p, httpAddr, natsAddr := newProcess(t, crashConfig+"streams: {webhook_window: 1s}\n")
	p.start()
	p.stop() // a checkpoint on disk: the next start resumes from it
	p.start()
	const n = 300
	seqs := map[string]uint64{}
	for i := range n {
		id := "kept-" + strconv.Itoa(i)
		body := issuesBody(id)
		a := post(t, httpAddr, "/webhooks/github", body, githubHeaders(id, "issues", body, githubSecret))
		if a.status != http.StatusOK || a.result.Duplicate {
			t.Fatalf("%s: %d %s", id, a.status, a.body)
		}
		seqs[id] = a.result.Seq
	}
	p.kill()
	time.Sleep(1500 * time.Millisecond) // past the stream's window: only the index knows the ids
	p.start()
	for id, seq := range seqs {
		body := issuesBody(id)
		a := post(t, httpAddr, "/webhooks/github", body, githubHeaders(id, "issues", body, githubSecret))
		if a.status != http.StatusOK || !a.result.Duplicate || a.result.Seq != seq {
			t.Fatalf("retry of %s (stored at %d) after the kill: %d %s", id, seq, a.status, a.body)
		}
	}
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if got := stored(t, js, "webhooks.github.>"); len(got) != n {
		t.Fatalf("%d events stored, want %d", len(got), n)
	}
}

// TestCrashRepeatedSIGKILL kills the real hookbus process with SIGKILL again and again while
// a client sends fresh deliveries and retries every one that got no 200 (a 503, a reset
// connection, a refused one) with the same delivery id, and restarts it each time on the
// same store. In the end every delivery that ever got a 200 is stored exactly once, at the
// sequence its answer named, and every delivery is stored in the end.
func TestCrashRepeatedSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	began := time.Now()
	p, httpAddr, natsAddr := newProcess(t, crashConfig)
	p.start()
	load := startSender(t, "crash", 4, func() []string { return []string{httpAddr} })
	const kills = 6
	var restarts []time.Duration
	for range kills {
		load.waitStored(25, 20*time.Second, "between kills")
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond) // kill at no particular step
		p.kill()
		restarts = append(restarts, p.start().Round(time.Millisecond))
	}
	load.waitStored(25, 20*time.Second, "after the last restart")
	t.Logf("killed %d times; each restart ready in %v", kills, restarts)

	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	log := load.checkExactlyOnce(js)
	cut := 0
	for _, a := range log {
		if a.status == 0 && !refused(a.err) {
			cut++
		}
	}
	if cut == 0 {
		t.Errorf("no request was cut off by a kill: the test did not test")
	}
	t.Logf("took %s", time.Since(began).Round(time.Millisecond))
}

package bridge_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/examples"
	"github.com/hookbus/hookbus/subjects"
	"golang.org/x/net/websocket"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		_ = json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// consoleScene runs the seed chain plus an agent that dead-letters everything but replays,
// on streams with the given duplicate window (how long a dead letter is too recent to
// redrive), and returns the harness and the replays that agent handled.
func consoleScene(t *testing.T, window time.Duration) (*harness, *replays) {
	h := start(t, loadConfig(t, testConfig+"streams: {duplicate_window: "+window.String()+"}\n", map[string]string{"STORE": t.TempDir()}))
	runAgent(t, h.addrs.NATS, examples.TriageConfig())
	runAgent(t, h.addrs.NATS, examples.NotifyConfig(""))
	r := &replays{}
	runAgent(t, h.addrs.NATS, agents.Config{Name: "picky", Subjects: []string{"webhooks.demo.>"},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			if ev.Replay {
				r.add(ev)
				return nil
			}
			return agents.Permanent(fmt.Errorf("cannot handle %s", ev.Type))
		})})
	return h, r
}

// replays records the subjects and streams of the replayed events an agent handled.
type replays struct {
	mu   sync.Mutex
	seen []string
}

func (r *replays) add(ev *agents.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, ev.Stream+" "+ev.Subject)
}

func (r *replays) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// redriveAnswer is the console's answer to a redrive.
type redriveAnswer struct {
	Seq     uint64
	Subject string
	To      string
	Via     string
	Error   string
	RetryAt time.Time `json:"retry_at"`
}

func postRedrive(t *testing.T, base, seq string) (int, redriveAnswer) {
	t.Helper()
	r, err := http.Post(base+"/api/dlq/redrive?seq="+seq, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var a redriveAnswer
	if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
		t.Fatalf("redrive %s: %d, undecodable answer: %v", seq, r.StatusCode, err)
	}
	return r.StatusCode, a
}

func TestConsoleAPI(t *testing.T) {
	const window = 2 * time.Second
	h, picky := consoleScene(t, window)
	base := "http://" + h.addrs.Admin

	// Follow the tail before sending.
	resp, err := http.Get(base + "/api/tail")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("tail content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Scan() // the opening comment

	body := issuesBody("Crash in console")
	if a := post(t, h.addrs.HTTP, "/webhooks/github", body, githubHeaders("con-1", "issues", body, githubSecret)); a.status != 200 {
		t.Fatalf("webhook: %d", a.status)
	}
	var first struct{ Subject, ID string }
	for lines.Scan() {
		if l, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
			json.Unmarshal([]byte(l), &first)
			break
		}
	}
	if first.Subject != "webhooks.github.issues.opened" || first.ID != "github:con-1" {
		t.Fatalf("first tail event %+v", first)
	}
	waitMsgs(t, h.js, "agents.notify.events.>", 1)

	var chain []struct{ Subject, ID, Causation string }
	getJSON(t, base+"/api/chain?id=github:con-1", &chain)
	if len(chain) != 3 || chain[0].ID != "github:con-1" || chain[1].Causation != chain[0].ID || chain[2].Causation != chain[1].ID {
		t.Fatalf("chain %+v", chain)
	}

	// A new tail starts with the recent history.
	resp2, err := http.Get(base + "/api/tail")
	if err != nil {
		t.Fatal(err)
	}
	history := bufio.NewScanner(resp2.Body)
	for history.Scan() && !strings.HasPrefix(history.Text(), "data: ") {
	}
	if !strings.Contains(history.Text(), "github:con-1") {
		t.Fatalf("tail history starts with %q", history.Text())
	}
	resp2.Body.Close()

	var sources map[string]map[string]float64
	getJSON(t, base+"/api/sources", &sources)
	if sources["github"]["stored"] != 1 {
		t.Fatalf("sources %v", sources)
	}

	// A dead letter, listed, then redriven to its agent.
	post(t, h.addrs.HTTP, "/webhooks/demo", []byte("{}"), map[string]string{"X-Signature": "sha256=" + base64Sig([]byte("{}"), demoSecret)})
	waitMsgs(t, h.js, "dlq.picky", 1)
	var dlq []struct {
		Seq    uint64
		Reason string
	}
	getJSON(t, base+"/api/dlq", &dlq)
	if len(dlq) != 1 || !strings.Contains(dlq[0].Reason, "cannot handle") {
		t.Fatalf("dead letters %+v", dlq)
	}
	var agentRows []struct {
		Agent       string
		DeadLetters int `json:"dead_letters"`
	}
	getJSON(t, base+"/api/agents", &agentRows)
	found := false
	for _, a := range agentRows {
		found = found || (a.Agent == "picky" && a.DeadLetters == 1)
	}
	if !found {
		t.Fatalf("agents %+v", agentRows)
	}
	// Too recent: refused, with the time it may be redriven, and left where it is.
	seq := strconv.FormatUint(dlq[0].Seq, 10)
	code, a := postRedrive(t, base, seq)
	if code != http.StatusConflict || !strings.Contains(a.Error, "could be dropped as a duplicate") || a.RetryAt.IsZero() || a.To != "" {
		t.Fatalf("redrive of a fresh dead letter: %d %+v", code, a)
	}
	if n := len(stored(t, h.js, "dlq.>")); n != 1 {
		t.Fatalf("a refused redrive left %d dead letters", n)
	}
	time.Sleep(time.Until(a.RetryAt))
	code, a = postRedrive(t, base, seq)
	if code != http.StatusOK || a.Via != "agent" || a.To != "agents.picky.replay.webhooks.demo.webhook" || a.Subject != "webhooks.demo.webhook" || a.Error != "" {
		t.Fatalf("redrive: %d %+v", code, a)
	}
	waitFor(t, "the dead letter gone", func() bool {
		var left []any
		getJSON(t, base+"/api/dlq", &left)
		return len(left) == 0
	})
	// It went to picky alone, on its replay subject, and picky handled it as the original.
	replayed := waitMsgs(t, h.js, "agents.picky.replay.>", 1)
	if replayed[0].Header.Get(subjects.HeaderReplay) != "true" {
		t.Fatalf("redriven event not marked as a replay")
	}
	if n := len(stored(t, h.js, "webhooks.demo.>")); n != 1 {
		t.Fatalf("the redrive stored a copy on the original subject too: %d", n)
	}
	waitFor(t, "picky handles the redriven event", func() bool { return len(picky.list()) == 1 })
	if got := picky.list()[0]; got != "AGENTS webhooks.demo.webhook" {
		t.Fatalf("picky handled the redriven event as %q", got)
	}

	if code, a := postRedrive(t, base, seq); code != http.StatusNotFound || !strings.Contains(a.Error, "no such message") {
		t.Fatalf("redrive of a dead letter already redriven: %d %+v", code, a)
	}
	if code, _ := postRedrive(t, base, "x"); code != http.StatusBadRequest {
		t.Fatalf("redrive of seq x: %d", code)
	}
	if code := getJSON(t, base+"/api/dlq/redrive?seq=1", nil); code != 405 {
		t.Fatalf("GET redrive: %d", code)
	}
}

func base64Sig(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// chromium drives a headless Chromium over the DevTools protocol.
type chromium struct {
	ws *websocket.Conn
	id int
}

func startChromium(t *testing.T, url string) *chromium {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no Chromium installed")
	}
	profile := t.TempDir()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--remote-debugging-port=0", "--remote-allow-origins=*", url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var port string
	waitFor(t, "Chromium's DevTools port", func() bool {
		b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		if err != nil {
			return false
		}
		port = strings.SplitN(string(b), "\n", 2)[0]
		return port != ""
	})
	var targets []struct{ Type, URL, WebSocketDebuggerURL string }
	waitFor(t, "the page target", func() bool {
		getJSON(t, "http://127.0.0.1:"+port+"/json/list", &targets)
		for _, tg := range targets {
			if tg.Type == "page" && strings.HasPrefix(tg.URL, url) {
				return true
			}
		}
		return false
	})
	var wsURL string
	for _, tg := range targets {
		if tg.Type == "page" && strings.HasPrefix(tg.URL, url) {
			wsURL = tg.WebSocketDebuggerURL
		}
	}
	ws, err := websocket.Dial(wsURL, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &chromium{ws: ws}
}

// eval runs a JavaScript expression in the page and returns its JSON value.
func (c *chromium) eval(t *testing.T, expr string) json.RawMessage {
	t.Helper()
	c.id++
	req := map[string]any{"id": c.id, "method": "Runtime.evaluate", "params": map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}}
	if err := websocket.JSON.Send(c.ws, req); err != nil {
		t.Fatal(err)
	}
	for {
		var resp struct {
			ID     int
			Result struct {
				Result struct{ Value json.RawMessage }
			}
		}
		c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := websocket.JSON.Receive(c.ws, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.ID == c.id {
			return resp.Result.Result.Value
		}
	}
}

// TestConsoleInChromium loads the console in headless Chromium, sees a webhook appear in the
// live tail, and redrives a dead letter with the button: refused at first, with the reason
// and the time to try again, as long as the dead letter is younger than the duplicate
// window; handed back to its agent after that.
func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	const window = 8 * time.Second
	h, picky := consoleScene(t, window)
	c := startChromium(t, "http://"+h.addrs.Admin+"/")
	waitFor(t, "the console to go live", func() bool { return string(c.eval(t, `document.querySelector("#status").textContent`)) == `"live"` })

	body := issuesBody("Seen in the browser")
	post(t, h.addrs.HTTP, "/webhooks/github", body, githubHeaders("browser-1", "issues", body, githubSecret))
	waitFor(t, "the webhook in the live tail", func() bool {
		return strings.Contains(string(c.eval(t, `document.querySelector("#tailbody").textContent`)), "github:browser-1")
	})

	post(t, h.addrs.HTTP, "/webhooks/demo", []byte(`{"n":1}`), map[string]string{"X-Signature": "sha256=" + base64Sig([]byte(`{"n":1}`), demoSecret)})
	waitFor(t, "the dead letter in the console", func() bool {
		return string(c.eval(t, `document.querySelectorAll("#dlq button").length`)) == "1"
	})
	note := func() string {
		var s string
		json.Unmarshal(c.eval(t, `document.querySelector("#dlqnote").textContent`), &s)
		return s
	}
	c.eval(t, `document.querySelector("#dlq button").click()`)
	waitFor(t, "the refusal in the console", func() bool { return strings.Contains(note(), "Try again after") })
	if !strings.Contains(note(), "could be dropped as a duplicate") || len(stored(t, h.js, "dlq.>")) != 1 {
		t.Fatalf("refused redrive: note %q", note())
	}
	waitFor(t, "the button back", func() bool {
		return string(c.eval(t, `document.querySelectorAll("#dlq button:not([disabled])").length`)) == "1"
	})

	time.Sleep(time.Until(stored(t, h.js, "dlq.>")[0].Time.Add(window)))
	c.eval(t, `document.querySelector("#dlq button").click()`)
	waitFor(t, "the dead letter redriven", func() bool {
		return len(stored(t, h.js, "dlq.>")) == 0 && len(stored(t, h.js, "agents.picky.replay.>")) == 1
	})
	waitFor(t, "the console to show no dead letter", func() bool {
		return string(c.eval(t, `document.querySelectorAll("#dlq button").length`)) == "0"
	})
	if n := note(); !strings.Contains(n, "redriven to agents.picky.replay.webhooks.demo.") {
		t.Fatalf("note after the redrive: %q", n)
	}
	waitFor(t, "picky handles the redriven event", func() bool { return len(picky.list()) == 1 })
}

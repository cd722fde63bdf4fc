package bridge_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// outageConfig runs the bridge on a NATS server of its own, as with an existing cluster.
const outageConfig = `
http: {listen: "127.0.0.1:0"}
admin: {listen: ""}
nats:
  url: "${NATS_URL}"
  publish_timeout: 1s
sources:
  github:
    verify: github
    secrets: ["` + githubSecret + `"]
`

// natsAt starts a JetStream server on addr with its store in dir: the same address and
// store every time, as a NATS that is restarted. The caller stops it.
func natsAt(t *testing.T, addr, dir string) *embedded.Server {
	t.Helper()
	ns, err := embedded.Start(embedded.Config{Listen: addr, StoreDir: dir, Name: "outage"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// settledGoroutines waits for the goroutine count to stop falling (connections and timers
// of past requests wind down) and returns it.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 20 {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestOutageLongerThanReconnectBudget stops the NATS server under a running bridge and an
// agent, twice: briefly, then for longer than the reconnect budget a NATS client has by
// default (60 attempts; a client with that default is started beside them and shown to
// give up for good). Meanwhile every webhook is answered 503 with Retry-After; after each
// outage the bridge stores again by itself, the deliveries refused meanwhile are stored
// when retried, and the agent handles a new event. Afterwards, idle, the process has no
// more goroutines than before the outages (a tolerance of 10 for the servers' own
// housekeeping: a leak of one per refused request would show 50) and its heap in use has
// not grown by 16 MiB.
func TestOutageLongerThanReconnectBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a NATS client's whole default reconnect budget")
	}
	began := time.Now()
	addr, dir := freeAddr(t), t.TempDir()
	ns := natsAt(t, addr, dir)
	// Registered first, so it runs last: the bridge and the agent stop while NATS is up.
	t.Cleanup(func() { ns.Shutdown() })
	url := "nats://" + addr
	h := start(t, loadConfig(t, outageConfig, map[string]string{"NATS_URL": url}))

	var mu sync.Mutex
	handled := map[string]bool{}
	runAgent(t, url, agents.Config{
		Name:     "outage",
		Subjects: []string{"webhooks.github.>"},
		Handler: agents.HandlerFunc(func(_ context.Context, ev *agents.Event) error {
			mu.Lock()
			handled[ev.DeliveryID] = true
			mu.Unlock()
			return nil
		}),
	})
	waitHandled := func(id string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			mu.Lock()
			ok := handled[id]
			mu.Unlock()
			if ok {
				return time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("agent did not handle %s within %s", id, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	client := &sender{t: t, client: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
	send := func(id string) sent {
		body := issuesBody(id)
		return client.send(h.addrs.HTTP, id, body, githubHeaders(id, "issues", body, githubSecret))
	}
	mustStore := func(id string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			a := send(id)
			if a.status == http.StatusOK {
				return time.Since(start)
			}
			if a.status != http.StatusServiceUnavailable || time.Since(start) > within {
				t.Fatalf("%s: %d %v after %s", id, a.status, a.err, time.Since(start))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range 3 {
		id := fmt.Sprint("warm-", i)
		mustStore(id, 5*time.Second)
		waitHandled(id, 10*time.Second)
	}
	goroutines, heap := settledGoroutines(), heapInUse()

	// refusedWhileDown sends one delivery every interval until done is closed; each must be
	// answered 503 with Retry-After. It returns their ids.
	refusedWhileDown := func(prefix string, interval time.Duration, done <-chan struct{}) []string {
		t.Helper()
		var ids []string
		for i := 0; ; i++ {
			id := fmt.Sprintf("%s-%d", prefix, i)
			a := send(id)
			if a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
				t.Fatalf("%s while NATS is down: %d %v Retry-After=%q", id, a.status, a.err, a.retryAfter)
			}
			ids = append(ids, id)
			select {
			case <-done:
				return ids
			case <-time.After(interval):
			}
		}
	}
	var all []string // every delivery that was refused and then retried
	afterOutage := func(what string, refused []string) {
		t.Helper()
		id := what + "-after"
		took := mustStore(id, 20*time.Second)
		took2 := waitHandled(id, 20*time.Second)
		for _, id := range refused {
			mustStore(id, 5*time.Second)
		}
		for _, id := range refused {
			waitHandled(id, 10*time.Second)
		}
		all = append(all, refused...)
		t.Logf("%s: %d deliveries refused with 503 meanwhile; bridge stored again %s after NATS came back, the agent handled that event %s later; the refused ones were stored and handled when retried",
			what, len(refused), took.Round(time.Millisecond), took2.Round(time.Millisecond))
	}

	// A brief outage.
	ns.Shutdown()
	short := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(short) })
	refused := refusedWhileDown("short-down", 100*time.Millisecond, short)
	ns = natsAt(t, addr, dir)
	afterOutage("short", refused)

	// An outage past the default reconnect budget: a client with the library's default
	// MaxReconnects and the bridge's ReconnectWait gives up during it.
	gaveUp := make(chan struct{})
	control, err := nats.Connect(url, nats.ReconnectWait(250*time.Millisecond),
		nats.ClosedHandler(func(*nats.Conn) { close(gaveUp) }))
	if err != nil {
		t.Fatal(err)
	}
	defer control.Close()
	if got := control.Opts.MaxReconnect; got != nats.DefaultMaxReconnect {
		t.Fatalf("control client MaxReconnect %d, want the default %d", got, nats.DefaultMaxReconnect)
	}
	ns.Shutdown()
	down := time.Now()
	overBudget := make(chan struct{})
	go func() {
		select {
		case <-gaveUp:
			time.Sleep(2 * time.Second) // and some more
		case <-time.After(45 * time.Second):
		}
		close(overBudget)
	}()
	refused = refusedWhileDown("long-down", 500*time.Millisecond, overBudget)
	select {
	case <-gaveUp:
	default:
		t.Fatalf("a client with the default reconnect budget still had not given up after %s", time.Since(down))
	}
	ns = natsAt(t, addr, dir)
	t.Logf("long outage: NATS down for %s; a client with the default budget gave up during it", time.Since(down).Round(time.Millisecond))
	afterOutage("long", refused)
	if !control.IsClosed() {
		t.Errorf("the control client came back: the outage did not outlast its budget")
	}

	// Each delivery is stored once: the refused ones were not stored by their first attempt.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	byID := storedIDs(t, js)
	nc.Close()
	for _, id := range append(all, "warm-0", "short-after", "long-after") {
		if n := len(byID["github:"+id]); n != 1 {
			t.Errorf("%s stored %d times, want 1", id, n)
		}
	}
	if len(byID) != len(all)+5 {
		t.Errorf("%d events stored, want %d", len(byID), len(all)+5)
	}

	// Idle again: nothing left running from the outages.
	client.client.CloseIdleConnections()
	after, heapAfter := settledGoroutines(), heapInUse()
	t.Logf("goroutines %d before the outages, %d after; heap in use %d KiB before, %d KiB after",
		goroutines, after, heap>>10, heapAfter>>10)
	if after > goroutines+10 {
		t.Errorf("goroutines: %d before the outages, %d after, idle", goroutines, after)
	}
	if heapAfter > heap+16<<20 {
		t.Errorf("heap in use grew from %d KiB to %d KiB across the outages", heap>>10, heapAfter>>10)
	}
	t.Logf("took %s", time.Since(began).Round(time.Millisecond))
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

const testSecret = "bench-test-secret"

// helperEnv makes the test binary act as a tiny server for TestStartup.
const helperEnv = "HOOKBUS_BENCH_TEST_SERVER"

func TestMain(m *testing.M) {
	if addr := os.Getenv(helperEnv); addr != "" {
		os.Exit(helperServer(addr))
	}
	os.Exit(m.Run())
}

// helperServer answers 200 on addr until SIGTERM.
func helperServer(addr string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return 1
	}
	return 0
}

// startBridge runs the real bridge on free loopback ports with its store in a temporary
// directory, and returns its addresses.
func startBridge(t *testing.T) bridge.Addrs {
	t.Helper()
	text := fmt.Sprintf(`
log: {level: error, format: json}
http: {listen: "127.0.0.1:0"}
admin: {listen: ""}
nats:
  embedded: {listen: "127.0.0.1:-1", store_dir: %q}
sources:
  github:
    verify: github
    secrets: [%q]
`, t.TempDir(), testSecret)
	cfg, err := config.Parse("bench.yaml", []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan bridge.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- bridge.Run(ctx, cfg, zerolog.Nop(), func(a bridge.Addrs) { ready <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge.Run: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("bridge.Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("bridge did not start")
	}
	return bridge.Addrs{}
}

func shortLoad(url, natsURL string) LoadConfig {
	return LoadConfig{
		Target:   Target{URL: url, Source: "github", Secret: testSecret},
		Conns:    4,
		Warmup:   100 * time.Millisecond,
		Duration: 400 * time.Millisecond,
		PID:      os.Getpid(),
		NATS:     natsURL,
	}
}

func TestLoadAgainstBridge(t *testing.T) {
	a := startBridge(t)
	cfg := shortLoad("http://"+a.HTTP, a.NATS)
	cfg.Timeline = 4
	res, err := Load(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Load: %v (%+v)", err, res)
	}
	c := res.Check
	if c == nil || !c.OK || c.Acked == 0 || c.Stored != c.Acked || res.Status["200"] != res.Sent {
		t.Fatalf("result %+v, check %+v", res, c)
	}
	if res.Server == nil || res.Server.CPUSeconds <= 0 || res.Server.PeakRSSMB <= 0 {
		t.Fatalf("server figures %+v", res.Server)
	}
	if len(res.Timeline) != 4 || res.Timeline[3].From <= 0 {
		t.Fatalf("timeline %+v", res.Timeline)
	}
	var ok float64
	for _, p := range res.Timeline {
		ok += p.Throughput
	}
	if ok <= 0 {
		t.Fatalf("timeline without answers: %+v", res.Timeline)
	}
	var sb strings.Builder
	res.WriteText(&sb)
	if !strings.Contains(sb.String(), "stream check OK") || !strings.Contains(sb.String(), "timeline") {
		t.Fatalf("text:\n%s", sb.String())
	}
}

func TestLoadAgainstBaselines(t *testing.T) {
	ns := embeddedtest.Start(t)
	for _, mode := range []string{ModeNoop, ModeNaive} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			addr := make(chan string, 1)
			done := make(chan error, 1)
			go func() {
				done <- ServeBaseline(ctx, BaselineConfig{
					Mode: mode, Listen: "127.0.0.1:0", Source: "github", Secret: testSecret, NATSURL: ns.ClientURL(),
				}, zerolog.Nop(), func(a string) { addr <- a })
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("ServeBaseline: %v", err)
				}
			}()
			var url string
			select {
			case a := <-addr:
				url = "http://" + a
			case err := <-done:
				t.Fatalf("ServeBaseline: %v", err)
			}
			if err := WaitReady(context.Background(), url, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			natsURL := ""
			if mode == ModeNaive {
				natsURL = ns.ClientURL()
			}
			res, err := Load(context.Background(), shortLoad(url, natsURL))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if res.OK == 0 || res.Status["200"] != res.Sent {
				t.Fatalf("result %+v", res)
			}
			if mode == ModeNaive && (res.Check == nil || !res.Check.OK || res.Check.Stored != res.Check.Acked) {
				t.Fatalf("check %+v", res.Check)
			}
		})
	}
}

// TestCheckCatchesLiars runs the load against servers that answer 200 without storing
// faithfully: the check must fail every time.
func TestCheckCatchesLiars(t *testing.T) {
	ns := embeddedtest.Start(t)
	_, js := embeddedtest.Connect(t, ns)
	if _, err := js.CreateOrUpdateStream(context.Background(), subjects.Streams(subjects.StreamOptions{})[0]); err != nil {
		t.Fatal(err)
	}
	store := func(r *http.Request, body []byte, delivery string) error {
		msg := nats.NewMsg(subjects.Webhook("github", "issues.opened"))
		msg.Data = body
		msg.Header.Set(subjects.HeaderMsgID, "github:"+delivery)
		msg.Header.Set(subjects.HeaderDeliveryID, delivery)
		_, err := js.PublishMsg(r.Context(), msg)
		return err
	}
	liars := map[string]func(r *http.Request, body []byte) error{
		"drops every tenth": func(r *http.Request, body []byte) error {
			d := r.Header.Get("X-GitHub-Delivery")
			if id, _ := ParseDeliveryID(d); id.N%10 == 3 {
				return nil
			}
			return store(r, body, d)
		},
		"stores another body": func(r *http.Request, body []byte) error {
			return store(r, body[:len(body)-1], r.Header.Get("X-GitHub-Delivery"))
		},
		"stores twice": func(r *http.Request, body []byte) error {
			d := r.Header.Get("X-GitHub-Delivery")
			if err := store(r, body, d); err != nil {
				return err
			}
			// A second copy without the id the stream de-duplicates by.
			msg := nats.NewMsg(subjects.Webhook("github", "issues.opened"))
			msg.Data = body
			msg.Header.Set(subjects.HeaderDeliveryID, d)
			_, err := js.PublishMsg(r.Context(), msg)
			return err
		},
	}
	for name, liar := range liars {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if err := liar(r, body); err != nil {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			})}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			cfg := shortLoad("http://"+ln.Addr().String(), ns.ClientURL())
			cfg.PID = 0
			res, err := Load(context.Background(), cfg)
			if !errors.Is(err, ErrCheckFailed) {
				t.Fatalf("Load = %v; want ErrCheckFailed (check %+v)", err, res.Check)
			}
			if res.Check.OK || len(res.Check.Problems) == 0 {
				t.Fatalf("check %+v", res.Check)
			}
		})
	}
}

func TestE2EAgentReplay(t *testing.T) {
	a := startBridge(t)
	e, err := E2E(context.Background(), E2EConfig{
		Target: Target{URL: "http://" + a.HTTP, Source: "github", Secret: testSecret},
		NATS:   a.NATS, Rate: 100, Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("E2E: %v", err)
	}
	if e.Acked == 0 || e.Handled != e.Acked || e.Missing != 0 || e.E2E.P50 <= 0 {
		t.Fatalf("E2E result %+v", e)
	}
	ag, err := AgentRate(context.Background(), AgentConfig{NATS: a.NATS, Count: 300, Concurrency: 8, PID: os.Getpid()})
	if err != nil {
		t.Fatalf("AgentRate: %v", err)
	}
	if ag.Handled != 300 || ag.Throughput <= 0 {
		t.Fatalf("AgentRate result %+v", ag)
	}
	f, err := Fill(context.Background(), FillConfig{NATS: a.NATS, Count: 500})
	if err != nil || f.Stored != 500 {
		t.Fatalf("Fill = %+v, %v", f, err)
	}
	r, err := Replay(context.Background(), ReplayConfig{NATS: a.NATS})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if r.Messages != e.Sent+300+500 {
		t.Fatalf("replay read %d messages, want %d", r.Messages, e.Sent+300+500)
	}
	r, err = Replay(context.Background(), ReplayConfig{NATS: a.NATS, Filter: "webhooks.bench.fill"})
	if err != nil || r.Messages != 500 {
		t.Fatalf("filtered replay = %+v, %v", r, err)
	}
}

func TestFloor(t *testing.T) {
	for _, batch := range []int{0, 1, 7} {
		t.Run(fmt.Sprint("fast-batch-", batch), func(t *testing.T) {
			dir := t.TempDir()
			res, err := Floor(context.Background(), FloorConfig{StoreDir: dir, Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond, FastBatch: batch})
			if err != nil {
				t.Fatal(err)
			}
			if res.Acked == 0 || res.Errors != 0 || res.CPUPerMsg <= 0 {
				t.Fatalf("result %+v", res)
			}
			// What was acknowledged is in the store, each message once.
			ns, err := embedded.Start(embedded.Config{Listen: "127.0.0.1:-1", StoreDir: dir, Name: "floor"}, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			defer ns.Shutdown()
			_, js := embeddedtest.Connect(t, ns, ns.InProcess())
			s, err := js.Stream(context.Background(), subjects.StreamWebhooks)
			if err != nil {
				t.Fatal(err)
			}
			st := s.CachedInfo().State
			if st.Msgs < uint64(res.Acked) || st.Msgs != st.LastSeq {
				t.Fatalf("stream holds %d messages (last sequence %d), %d acknowledged in the window", st.Msgs, st.LastSeq, res.Acked)
			}
			if batch > 1 && st.Msgs%uint64(batch) != 0 {
				t.Fatalf("stream holds %d messages: not whole batches of %d", st.Msgs, batch)
			}
		})
	}
}

func TestStartup(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(helperEnv, addr)
	res, err := Startup(context.Background(), StartupConfig{Argv: []string{exe}, Ready: "http://" + addr + "/", Runs: 2, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 || res.Median <= 0 {
		t.Fatalf("result %+v", res)
	}
	exits, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to start")
	}
	_, err = Startup(context.Background(), StartupConfig{Argv: []string{exits}, Ready: "http://" + addr + "/", Runs: 1, Timeout: 30 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "exited before") {
		t.Fatalf("Startup of a command that exits at once: %v", err)
	}
}

func TestServeProfiled(t *testing.T) {
	dir := t.TempDir()
	cfgFile := dir + "/hookbus.yaml"
	text := fmt.Sprintf(`
log: {level: error, format: json}
http: {listen: "127.0.0.1:0"}
admin: {listen: ""}
nats:
  embedded: {listen: "127.0.0.1:-1", store_dir: %q}
sources:
  github:
    verify: github
    secrets: [%q]
`, dir+"/store", testSecret)
	if err := os.WriteFile(cfgFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p := Profiles{CPU: dir + "/cpu", Block: dir + "/block", Mutex: dir + "/mutex", Heap: dir + "/heap"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan bridge.Addrs, 1)
	go func() { done <- ServeProfiled(ctx, cfgFile, p, zerolog.Nop(), func(a bridge.Addrs) { ready <- a }) }()
	select {
	case a := <-ready:
		cfg := shortLoad("http://"+a.HTTP, a.NATS)
		cfg.PID = 0
		if _, err := Load(context.Background(), cfg); err != nil {
			t.Errorf("Load: %v", err)
		}
	case err := <-done:
		t.Fatalf("ServeProfiled: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeProfiled: %v", err)
	}
	for _, f := range []string{p.CPU, p.Block, p.Mutex, p.Heap} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("profile %s: %v", f, err)
		}
	}
}

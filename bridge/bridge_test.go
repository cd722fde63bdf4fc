package bridge_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

const (
	githubSecret = "gh-test-secret"
	demoSecret   = "demo-new-secret"
	demoOld      = "demo-old-secret"
)

// testConfig is the config the ingress tests run with: a GitHub source, a generic HMAC source
// with two secrets (rotation), a small-limit source, and a disabled one.
const testConfig = `
http:
  listen: "127.0.0.1:0"
admin:
  listen: "127.0.0.1:0"
nats:
  embedded:
    listen: "127.0.0.1:-1"
    store_dir: "${STORE}"
  publish_timeout: 2s
sources:
  github:
    verify: github
    secrets: ["` + githubSecret + `"]
  demo:
    verify: hmac-sha256
    header: X-Signature
    prefix: "sha256="
    encoding: base64
    id_header: X-Delivery
    event_header: X-Event
    secrets: ["` + demoSecret + `", "` + demoOld + `"]
  small:
    verify: none
    max_body: 1KiB
  off:
    verify: github
    secrets: ["${UNSET_SECRET}"]
`

func loadConfig(t testing.TB, text string, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(text), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// harness is a running bridge.Run with its embedded NATS.
type harness struct {
	addrs bridge.Addrs
	js    jetstream.JetStream
	stop  func()
}

func start(t *testing.T, cfg *config.Config) *harness {
	t.Helper()
	return startLogged(t, cfg, zerolog.Nop())
}

// startLogged is start with the bridge logging to log.
func startLogged(t *testing.T, cfg *config.Config, log zerolog.Logger) *harness {
	t.Helper()
	cfg = ownDedupeDir(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan bridge.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- bridge.Run(ctx, cfg, log, func(a bridge.Addrs) { ready <- a }) }()
	var h harness
	select {
	case h.addrs = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("bridge did not start")
	}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(time.Minute): // shutdown_timeout (30s) and a NATS drain
				t.Errorf("Run did not return within a minute of its context ending")
			}
		})
	}
	t.Cleanup(h.stop)
	var opts []nats.Option
	if e := cfg.NATS.Embedded; e != nil && e.Auth != nil {
		pw, err := os.ReadFile(embedded.PasswordFile(e.Auth.CredentialsDir, embedded.AdminUser))
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, nats.UserInfo(embedded.AdminUser, strings.TrimSpace(string(pw))))
	}
	nc, err := nats.Connect(h.addrs.NATS, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h.js, _ = jetstream.New(nc)
	return &h
}

func startDefault(t *testing.T) *harness {
	return start(t, loadConfig(t, testConfig, map[string]string{"STORE": t.TempDir()}))
}

func githubSign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func issuesBody(title string) []byte {
	return []byte(`{"action":"opened","issue":{"number":7,"title":"` + title + `","html_url":"https://github.com/acme/app/issues/7","labels":[{"name":"bug"}]},"repository":{"full_name":"acme/app"}}`)
}

type answer struct {
	status int
	header http.Header
	body   []byte
	result struct {
		ID        string `json:"id"`
		Seq       uint64 `json:"seq"`
		Duplicate bool   `json:"duplicate"`
		Error     string `json:"error"`
	}
}

func post(t *testing.T, addr, path string, body []byte, header map[string]string) answer {
	t.Helper()
	return do(t, http.MethodPost, addr, path, body, header)
}

func do(t *testing.T, method, addr, path string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	a.body, _ = io.ReadAll(resp.Body)
	if len(a.body) > 0 {
		if err := json.Unmarshal(a.body, &a.result); err != nil {
			t.Fatalf("answer is not JSON: %q", a.body)
		}
	}
	return a
}

func githubHeaders(delivery, event string, body []byte, secret string) map[string]string {
	return map[string]string{
		"Content-Type":        "application/json",
		"X-GitHub-Event":      event,
		"X-GitHub-Delivery":   delivery,
		"X-Hub-Signature-256": githubSign(body, secret),
	}
}

func stored(t *testing.T, js jetstream.JetStream, filter string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, subjects.StreamFor(filter))
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

func TestGitHubStoredExactly(t *testing.T) {
	h := startDefault(t)
	body := issuesBody("App crashes on start")
	a := post(t, h.addrs.HTTP, "/webhooks/github", body, githubHeaders("d-1", "issues", body, githubSecret))
	if a.status != 200 || a.result.ID != "github:d-1" || a.result.Seq != 1 || a.result.Duplicate {
		t.Fatalf("answer %d %s", a.status, a.body)
	}
	msgs := stored(t, h.js, "webhooks.>")
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "webhooks.github.issues.opened" || !bytes.Equal(m.Data, body) {
		t.Fatalf("stored %s %q", m.Subject, m.Data)
	}
	want := map[string]string{
		subjects.HeaderSpecVersion: "1.0",
		subjects.HeaderID:          "github:d-1",
		subjects.HeaderMsgID:       "github:d-1",
		subjects.HeaderSource:      "/webhooks/github",
		subjects.HeaderType:        "issues.opened",
		subjects.HeaderContentType: "application/json",
		subjects.HeaderVerifiedBy:  "github",
		subjects.HeaderDeliveryID:  "d-1",
	}
	for k, v := range want {
		if got := m.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if tp := m.Header.Get(subjects.HeaderTraceparent); len(tp) != 55 || !strings.HasPrefix(tp, "00-") {
		t.Errorf("no new trace started for a webhook without one: %q", tp)
	}
	if _, err := time.Parse(time.RFC3339Nano, m.Header.Get(subjects.HeaderTime)); err != nil {
		t.Errorf("ce-time %q: %v", m.Header.Get(subjects.HeaderTime), err)
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			if strings.Contains(v, githubSecret) {
				t.Errorf("header %s carries the secret", k)
			}
		}
	}
}

func TestDuplicateDeliveryStoredOnce(t *testing.T) {
	h := startDefault(t)
	body := issuesBody("dup")
	hdr := githubHeaders("d-dup", "issues", body, githubSecret)
	first := post(t, h.addrs.HTTP, "/webhooks/github", body, hdr)
	second := post(t, h.addrs.HTTP, "/webhooks/github", body, hdr)
	if first.status != 200 || first.result.Duplicate {
		t.Fatalf("first answer %d %s", first.status, first.body)
	}
	if second.status != 200 || !second.result.Duplicate || second.result.Seq != first.result.Seq || second.result.ID != first.result.ID {
		t.Fatalf("second answer %d %s, first %s", second.status, second.body, first.body)
	}
	if n := len(stored(t, h.js, "webhooks.>")); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
}

func TestRejections(t *testing.T) {
	h := startDefault(t)
	body := issuesBody("x")
	tampered := bytes.Replace(body, []byte(`"x"`), []byte(`"y"`), 1)
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		header map[string]string
		status int
		reason string
	}{
		{"tampered body", "POST", "/webhooks/github", tampered, githubHeaders("r1", "issues", body, githubSecret), 401, "invalid signature"},
		{"wrong secret", "POST", "/webhooks/github", body, githubHeaders("r2", "issues", body, "other"), 401, "invalid signature"},
		{"missing signature", "POST", "/webhooks/github", body, map[string]string{"X-GitHub-Event": "issues", "X-GitHub-Delivery": "r3"}, 401, "missing signature"},
		{"garbage signature", "POST", "/webhooks/github", body, map[string]string{"X-GitHub-Event": "issues", "X-Hub-Signature-256": "sha256=zz"}, 401, "invalid signature"},
		{"unknown source", "POST", "/webhooks/nope", body, nil, 404, "unknown source"},
		{"disabled source", "POST", "/webhooks/off", body, githubHeaders("r4", "issues", body, ""), 404, "unknown source"},
		{"not webhooks path", "POST", "/other", body, nil, 404, "unknown source"},
		{"nested path", "POST", "/webhooks/github/x", body, nil, 404, "unknown source"},
		{"GET", "GET", "/webhooks/github", nil, nil, 405, "method not allowed"},
		{"PUT", "PUT", "/webhooks/github", body, nil, 405, "method not allowed"},
		{"too large by length", "POST", "/webhooks/small", bytes.Repeat([]byte("a"), 1025), nil, 413, "body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, tt.method, h.addrs.HTTP, tt.path, tt.body, tt.header)
			if a.status != tt.status || a.result.Error != tt.reason {
				t.Fatalf("answer %d %s, want %d %q", a.status, a.body, tt.status, tt.reason)
			}
			if tt.status == 405 && a.header.Get("Allow") != "POST" {
				t.Fatalf("405 without Allow: POST (got %q)", a.header.Get("Allow"))
			}
		})
	}
	if n := len(stored(t, h.js, "webhooks.>")); n != 0 {
		t.Fatalf("%d messages stored after rejections, want 0", n)
	}
	// The limit is inclusive: exactly max_body bytes are accepted.
	if a := post(t, h.addrs.HTTP, "/webhooks/small", bytes.Repeat([]byte("a"), 1024), nil); a.status != 200 {
		t.Fatalf("body at the limit: %d %s", a.status, a.body)
	}
}

// TestTooLargeChunkedNotBuffered streams a chunked body far over the limit and shows the
// bridge answers 413 long before the sender is done, without reading the rest.
func TestTooLargeChunkedNotBuffered(t *testing.T) {
	h := startDefault(t)
	conn, err := net.Dial("tcp", h.addrs.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhooks/small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := bytes.Repeat([]byte("a"), 512)
	sent := 0
	writeErr := make(chan error, 1)
	go func() {
		for i := 0; i < 64*1024; i++ { // up to 32 MiB; the server stops reading long before
			if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
				writeErr <- err
				return
			}
			sent += len(chunk)
		}
		writeErr <- nil
	}()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	if resp.StatusCode != 413 {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	conn.Close()
	<-writeErr
	if n := len(stored(t, h.js, "webhooks.>")); n != 0 {
		t.Fatalf("%d stored", n)
	}
}

func TestGenericHMACRotationAndBodyKey(t *testing.T) {
	h := startDefault(t)
	sign := func(body []byte, secret string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		return "sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	body := []byte(`{"lead":"ada"}`)
	for _, secret := range []string{demoSecret, demoOld} {
		a := post(t, h.addrs.HTTP, "/webhooks/demo", body, map[string]string{"X-Signature": sign(body, secret), "X-Event": "lead.created", "X-Delivery": "L-" + secret})
		if a.status != 200 {
			t.Fatalf("secret %s: %d %s", secret, a.status, a.body)
		}
	}
	if a := post(t, h.addrs.HTTP, "/webhooks/demo", body, map[string]string{"X-Signature": sign(body, "retired")}); a.status != 401 {
		t.Fatalf("retired secret: %d %s", a.status, a.body)
	}
	// No delivery id: the key is the body digest, so the same body twice is one event.
	other := []byte(`{"lead":"grace"}`)
	hdr := map[string]string{"X-Signature": sign(other, demoSecret), "X-Event": "lead.*.>"}
	first := post(t, h.addrs.HTTP, "/webhooks/demo", other, hdr)
	second := post(t, h.addrs.HTTP, "/webhooks/demo", other, hdr)
	if first.status != 200 || !strings.HasPrefix(first.result.ID, "demo:body:") || !second.result.Duplicate {
		t.Fatalf("body-keyed: %s then %s", first.body, second.body)
	}
	msgs := stored(t, h.js, "webhooks.demo.>")
	if len(msgs) != 3 {
		t.Fatalf("%d stored, want 3", len(msgs))
	}
	if msgs[0].Subject != "webhooks.demo.lead.created" || msgs[2].Subject != "webhooks.demo.lead._._" {
		t.Fatalf("subjects %s, %s", msgs[0].Subject, msgs[2].Subject)
	}
}

// TestUnavailableWhileNATSDown stops the JetStream server under a running ingress: requests
// are answered 503 with Retry-After, never 2xx; once NATS is back, they are stored again.
func TestUnavailableWhileNATSDown(t *testing.T) {
	ns := embeddedtest.Start(t)
	_, js := embeddedtest.Connect(t, ns, nats.ReconnectBufSize(-1), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err := bridge.EnsureStreams(context.Background(), js, subjects.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, testConfig, map[string]string{"STORE": t.TempDir()})
	cfg.NATS.PublishTimeout = time.Second
	srv, err := bridge.New(cfg, js, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	addr := ln.Addr().String()

	send := func(id string) answer {
		body := issuesBody(id)
		return post(t, addr, "/webhooks/github", body, githubHeaders(id, "issues", body, githubSecret))
	}
	if a := send("before"); a.status != 200 {
		t.Fatalf("before outage: %d %s", a.status, a.body)
	}
	store := ns.NATS().StoreDir()
	url := ns.ClientURL()
	ns.Shutdown()
	for i := range 3 {
		a := send(fmt.Sprintf("during-%d", i))
		if a.status != 503 || a.header.Get("Retry-After") == "" {
			t.Fatalf("during outage: %d %s Retry-After=%q", a.status, a.body, a.header.Get("Retry-After"))
		}
	}
	restartAt(t, url, store)
	deadline := time.Now().Add(20 * time.Second)
	for {
		a := send("after")
		if a.status == 200 {
			break
		}
		if a.status != 503 || time.Now().After(deadline) {
			t.Fatalf("after restart: %d %s", a.status, a.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	msgs := stored(t, js, "webhooks.>")
	if len(msgs) != 2 || msgs[0].Header.Get(subjects.HeaderID) != "github:before" || msgs[1].Header.Get(subjects.HeaderID) != "github:after" {
		t.Fatalf("stored %d messages", len(msgs))
	}
}

// slowPublisher holds every publish for a while before passing it on to the real stream.
type slowPublisher struct {
	bridge.Publisher
	delay   time.Duration
	entered chan struct{}
}

func (p slowPublisher) PublishMsg(ctx context.Context, m *nats.Msg, o ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	p.entered <- struct{}{}
	time.Sleep(p.delay)
	return p.Publisher.PublishMsg(ctx, m, o...)
}

// TestShutdownWaitsForInFlight starts a shutdown while requests wait for their PubAck: each
// is still answered 200 and stored.
func TestShutdownWaitsForInFlight(t *testing.T) {
	ns := embeddedtest.Start(t)
	nc, _ := nats.Connect(ns.ClientURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := bridge.EnsureStreams(context.Background(), js, subjects.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, testConfig, map[string]string{"STORE": t.TempDir()})
	const n = 5
	pub := slowPublisher{Publisher: js, delay: 300 * time.Millisecond, entered: make(chan struct{}, n)}
	srv, err := bridge.New(cfg, pub, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	answers := make(chan answer, n)
	for i := range n {
		go func() {
			body := issuesBody(fmt.Sprint(i))
			answers <- post(t, ln.Addr().String(), "/webhooks/github", body, githubHeaders(fmt.Sprint("s", i), "issues", body, githubSecret))
		}()
	}
	for range n {
		<-pub.entered
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for range n {
		if a := <-answers; a.status != 200 {
			t.Fatalf("in-flight request answered %d %s", a.status, a.body)
		}
	}
	if got := len(stored(t, js, "webhooks.>")); got != n {
		t.Fatalf("%d stored, want %d", got, n)
	}
}

// TestServeAfterShutdown: a Serve that begins after Shutdown (a bridge cancelled the moment
// it became ready, with Serve started in a goroutine) returns at once instead of accepting
// on a listener nobody will close; the same for the admin listener.
func TestServeAfterShutdown(t *testing.T) {
	cfg := loadConfig(t, testConfig, map[string]string{"STORE": t.TempDir()})
	returns := func(what string, serve func() error) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- serve() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still serving 10s after Shutdown", what)
		}
	}
	for i := range 50 {
		srv, err := bridge.New(cfg, nil, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 { // strictly after
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			returns("Serve after Shutdown", func() error { return srv.Serve(ln) })
		} else { // racing, as Run does
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			returns("Serve racing Shutdown", func() error { return <-done })
		}
		if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
			c.Close()
			t.Fatalf("round %d: the listener still accepts after Shutdown", i)
		}
	}

	ns := embeddedtest.Start(t)
	nc, js := embeddedtest.Connect(t, ns)
	admin, err := bridge.NewAdmin("127.0.0.1:0", nc, js, bridge.NewMetrics(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	admin.Close()
	returns("admin Serve after Close", func() error { admin.Serve(); return nil })
	if c, err := net.DialTimeout("tcp", admin.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("the admin listener still accepts after Close")
	}
}

func TestAdminEndpoints(t *testing.T) {
	h := startDefault(t)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/nope": 404} {
		resp, err := http.Get("http://" + h.addrs.Admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	if err := h.js.DeleteStream(context.Background(), subjects.StreamWebhooks); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + h.addrs.Admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz without the stream = %d, want 503", resp.StatusCode)
	}
}

// restartAt starts an embedded server again on the port of url with the store in dir, as a
// NATS coming back after an outage, and stops it when the test ends.
func restartAt(t *testing.T, url, dir string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(url, "nats://"))
	back, err := embedded.Start(embedded.Config{Listen: "127.0.0.1:" + port, StoreDir: dir}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(back.Shutdown)
}

// ownDedupeDir gives a bridge on an external NATS its own dedupe index directory, as each
// bridge process has, instead of the shared default under the working directory.
func ownDedupeDir(t *testing.T, cfg *config.Config) *config.Config {
	t.Helper()
	if cfg.NATS.Embedded != nil || cfg.Streams.DedupeDir != "" {
		return cfg
	}
	c := *cfg
	c.Streams.DedupeDir = t.TempDir()
	return &c
}

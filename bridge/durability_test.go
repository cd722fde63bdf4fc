package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/hookbus/hookbus/bridge"
	"github.com/rs/zerolog"
)

// TestSyncBatch runs the bridge with sync: batch (group commit over the embedded server's
// WEBHOOKS blocks): concurrent deliveries are all answered 200 and stored once.
func TestSyncBatch(t *testing.T) {
	cfg := loadConfig(t, strings.Replace(testConfig, `store_dir: "${STORE}"`, `store_dir: "${STORE}"
    sync: batch`, 1), map[string]string{"STORE": t.TempDir()})
	if cfg.NATS.Embedded.Sync != "batch" {
		t.Fatalf("sync %q", cfg.NATS.Embedded.Sync)
	}
	h := start(t, cfg)
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := issuesBody("batch")
			a := post(t, h.addrs.HTTP, "/webhooks/github", body, githubHeaders(fmt.Sprintf("batch-%d", i), "issues", body, githubSecret))
			if a.status != 200 || a.result.Duplicate {
				t.Errorf("delivery %d: %d %s", i, a.status, a.body)
			}
		})
	}
	wg.Wait()
	if got := len(stored(t, h.js, "webhooks.>")); got != n {
		t.Fatalf("stored %d of %d", got, n)
	}
}

// TestSyncFailureIs503: an event stored but not confirmed on disk is answered 503 with
// Retry-After, never 200; the provider's retry is then a duplicate of it.
func TestSyncFailureIs503(t *testing.T) {
	_, js := bridges(t, 1, nil)
	fail := true
	var mu sync.Mutex
	srv, err := bridge.New(loadConfig(t, horizonConfig, nil), js, zerolog.Nop(), bridge.WithGroupSync(func() error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("fsync: input/output error")
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	body := issuesBody("eio")
	hdr := githubHeaders("eio-1", "issues", body, githubSecret)
	a := post(t, ln.Addr().String(), "/webhooks/github", body, hdr)
	if a.status != 503 || a.header.Get("Retry-After") == "" {
		t.Fatalf("fsync failing: %d %q %s, want 503 with Retry-After", a.status, a.header.Get("Retry-After"), a.body)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	a = post(t, ln.Addr().String(), "/webhooks/github", body, hdr)
	if a.status != 200 || !a.result.Duplicate || a.result.Seq != 1 {
		t.Fatalf("retry: %d %s, want 200, a duplicate of seq 1", a.status, a.body)
	}
}

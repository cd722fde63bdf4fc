package embedded_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestStreamSyncerFollowsBlocks fills a stream small enough to roll over to new message
// blocks many times (old ones dropped) and checks the syncer follows to the newest.
func TestStreamSyncerFollowsBlocks(t *testing.T) {
	dir := t.TempDir()
	ns, err := embedded.Start(embedded.Config{Listen: "127.0.0.1:-1", StoreDir: dir}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	_, js := embeddedtest.Connect(t, ns)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, MaxBytes: 120_000}); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.NewStreamSyncer(dir, "NOPE"); err == nil {
		t.Fatal("syncer of a stream that does not exist")
	}
	s, err := embedded.NewStreamSyncer(dir, "T")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Sync(); err != nil { // nothing written yet
		t.Fatal(err)
	}
	body := make([]byte, 8<<10)
	for i := range 100 { // 800 KB through a stream of 32 KB blocks, old ones dropped
		if _, err := js.Publish(ctx, "t."+strconv.Itoa(i), body); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	blocks, _ := filepath.Glob(filepath.Join(dir, "jetstream", "*", "streams", "T", "msgs", "*.blk"))
	newest := 0
	for _, b := range blocks {
		n, _ := strconv.Atoi(filepath.Base(b[:len(b)-4]))
		newest = max(newest, n)
	}
	if newest < 10 {
		t.Fatalf("newest block %d: the stream did not roll over; the test needs a smaller block", newest)
	}
	if got := s.Newest(); got != uint64(newest) {
		t.Fatalf("syncer at block %d, newest on disk %d", got, newest)
	}
	// The stream deleted under it: an error that says so, not a crash.
	if err := js.DeleteStream(ctx, "T"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sync after the stream went: %v", err)
	}
}

package bench

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestScanStreamReaderLost: a scan whose server goes away part way reports an error; it
// never ends as if it had read everything, which would count the rest as missing.
func TestScanStreamReaderLost(t *testing.T) {
	ns := embeddedtest.Start(t)
	_, js := embeddedtest.Connect(t, ns, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	// More messages under the filter than the scan pulls at once.
	const total, want = 30000, 10000
	for i := range total {
		if _, err := js.PublishAsync("t."+strconv.Itoa(i%3), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	// Whole, the scan reads every message under the filter and ends without error.
	n, err := scanStream(ctx, js, "T", "t.1", 0, true, 500*time.Millisecond, func(jetstream.Msg) {})
	if err != nil || n != want {
		t.Fatalf("whole scan: %d messages, %v; want %d", n, err, want)
	}
	// The server stops after the first message: the scan cannot read the rest.
	var read int64
	n, err = scanStream(ctx, js, "T", "t.1", 0, true, 500*time.Millisecond, func(jetstream.Msg) {
		if read++; read == 1 {
			ns.NATS().Shutdown()
		}
	})
	if err == nil {
		t.Fatalf("scan without a server ended cleanly after %d of %d messages", n, want)
	}
	t.Logf("%d messages, then %v", n, err)
}

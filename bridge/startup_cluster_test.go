package bridge_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestClusterBridgesStartTogether starts three bridges at the same moment on a fresh
// 3-node cluster, as a deployment rolling out N instances would: together they create the
// R3 streams and buckets, and every one of them is serving within a few seconds.
func TestClusterBridgesStartTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node JetStream cluster")
	}
	c := startCluster(t, "")
	nc, err := nats.Connect(c.urls())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream: %v", err)
		}
	}
	cfg := loadConfig(t, clusterConfig, map[string]string{"NATS_URLS": c.urls()})
	began := time.Now()
	ready := make(chan bridge.Addrs, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	for i := range 3 {
		cfg := ownDedupeDir(t, cfg)
		log := bridgeLog(t, strconv.Itoa(i+1))
		go func() { done <- bridge.Run(ctx, cfg, log, func(a bridge.Addrs) { ready <- a }) }()
	}
	defer func() {
		cancel()
		for i := range 3 {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(time.Minute):
				t.Errorf("%d of 3 bridges still running a minute after their context ended", 3-i)
				return
			}
		}
	}()
	for i := range 3 {
		select {
		case <-ready:
			t.Logf("bridge %d of 3 ready after %s", i+1, time.Since(began).Round(time.Millisecond))
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of 3 bridges ready after %s", i, time.Since(began).Round(time.Millisecond))
		}
	}
}

package bridge

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestBehind: a following tail is behind when the first event it has not read was stored
// more than MaxLag ago, even if the stream showed it only a moment ago (a publish to a
// leader without quorum, committed with its original time once the quorum came back), or
// when a sequence noted MaxLag ago is still unread.
func TestBehind(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const lag = 2500 * time.Millisecond
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, c := range []struct {
		name    string
		indexed uint64
		unread  *mark
		marks   []mark
		behind  bool
	}{
		{name: "caught up", indexed: 10},
		{name: "first unread is fresh", indexed: 10, unread: &mark{11, ago(50 * time.Millisecond)}, marks: []mark{{11, ago(100 * time.Millisecond)}}},
		{name: "first unread stored long ago, noted just now", indexed: 10, unread: &mark{11, ago(5 * time.Second)}, marks: []mark{{12, ago(100 * time.Millisecond)}}, behind: true},
		{name: "first unread read meanwhile", indexed: 11, unread: &mark{11, ago(5 * time.Second)}},
		{name: "noted long ago, store time unknown", indexed: 10, marks: []mark{{11, ago(3 * time.Second)}}, behind: true},
		{name: "noted long ago, read since", indexed: 11, marks: []mark{{11, ago(3 * time.Second)}}},
		{name: "just under the limit", indexed: 10, unread: &mark{11, ago(lag)}, marks: []mark{{11, ago(lag)}}},
	} {
		err := behind(now, lag, c.indexed, c.unread, c.marks)
		if got := err != nil; got != c.behind {
			t.Errorf("%s: behind = %v, want %v", c.name, err, c.behind)
		}
		if err != nil && !errors.Is(err, ErrHorizonBehind) {
			t.Errorf("%s: %v is not ErrHorizonBehind", c.name, err)
		}
	}
}

// TestQuorum: a replicated stream counts as having its quorum while its leader heard
// lately from a majority of the group, itself included.
func TestQuorum(t *testing.T) {
	peer := func(offline bool, active time.Duration) *jetstream.PeerInfo {
		return &jetstream.PeerInfo{Name: "p", Offline: offline, Active: active}
	}
	for _, c := range []struct {
		name string
		ci   *jetstream.ClusterInfo
		ok   bool
	}{
		{"single server", nil, true},
		{"one replica", &jetstream.ClusterInfo{Leader: "n1"}, true},
		{"no leader", &jetstream.ClusterInfo{Replicas: []*jetstream.PeerInfo{peer(false, 0), peer(false, 0)}}, false},
		{"R3, both replicas heard", &jetstream.ClusterInfo{Leader: "n1", Replicas: []*jetstream.PeerInfo{peer(false, 100*time.Millisecond), peer(false, time.Second)}}, true},
		{"R3, one replica offline", &jetstream.ClusterInfo{Leader: "n1", Replicas: []*jetstream.PeerInfo{peer(true, 0), peer(false, 0)}}, true},
		{"R3, both replicas offline", &jetstream.ClusterInfo{Leader: "n1", Replicas: []*jetstream.PeerInfo{peer(true, 0), peer(true, 0)}}, false},
		{"R3, both replicas silent", &jetstream.ClusterInfo{Leader: "n1", Replicas: []*jetstream.PeerInfo{peer(false, 3*time.Second), peer(false, 5*time.Second)}}, false},
		{"R5, two of four replicas heard", &jetstream.ClusterInfo{Leader: "n1", Replicas: []*jetstream.PeerInfo{peer(false, 0), peer(false, 0), peer(true, 0), peer(false, time.Minute)}}, true},
		{"R5, one of four replicas heard", &jetstream.ClusterInfo{Leader: "n1", Replicas: []*jetstream.PeerInfo{peer(false, 0), peer(true, 0), peer(true, 0), peer(false, time.Minute)}}, false},
	} {
		if err := quorum(c.ci); (err == nil) != c.ok {
			t.Errorf("%s: quorum = %v, want ok %v", c.name, err, c.ok)
		}
	}
}

package bridge_test

// Shared by the fault tests (cluster, crash, outage): a webhook sender that keeps retrying
// like a provider does, and a reader that counts what the stream really holds.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

// sent is one attempt of the sender: when it left, when its answer came, and the answer.
type sent struct {
	id, addr   string
	at, answer time.Time
	status     int // 0: no answer (connection refused, reset, timed out)
	seq        uint64
	duplicate  bool
	retryAfter string
	err        error
}

// sender posts GitHub-signed issues webhooks, each with a fresh delivery id, from several
// workers at once, round robin over addrs. Like a provider, it retries a delivery that got
// no 200 (a 503, or no answer at all) with the same delivery id until it gets one.
type sender struct {
	t      *testing.T
	prefix string
	addrs  func() []string
	client *http.Client

	next    atomic.Int64
	mu      sync.Mutex
	log     []sent
	ids     []string // every id a worker started on, in order
	unacked map[string]bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// startSender starts workers that send until halt (called by checkExactlyOnce, and when
// the test ends). addrs is asked before every attempt, spreading them over the bridges it
// lists.
func startSender(t *testing.T, prefix string, workers int, addrs func() []string) *sender {
	t.Helper()
	s := &sender{
		t:      t,
		prefix: prefix,
		addrs:  addrs,
		// No keep-alive: every attempt dials, so a killed bridge is noticed at once and no
		// idle connection outlives the test.
		client: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
		unacked: map[string]bool{},
		stop:    make(chan struct{}),
	}
	for w := range workers {
		s.wg.Add(1)
		go s.work(w)
	}
	t.Cleanup(s.halt)
	return s
}

// halt stops the workers once each has its current delivery stored (or has retried it for
// 30s), and waits for them.
func (s *sender) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
	s.client.CloseIdleConnections()
}

func (s *sender) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// work sends fresh deliveries until stopped; a delivery it started is retried until it is
// stored or drainDeadline passes after the stop.
func (s *sender) work(w int) {
	defer s.wg.Done()
	var drainDeadline time.Time
	for n := 0; !s.stopped(); n++ {
		id := fmt.Sprintf("%s-%d", s.prefix, s.next.Add(1))
		s.mu.Lock()
		s.ids = append(s.ids, id)
		s.unacked[id] = true
		s.mu.Unlock()
		body := issuesBody(id)
		hdr := githubHeaders(id, "issues", body, githubSecret)
		for attempt := 0; ; attempt++ {
			addrs := s.addrs()
			a := s.send(addrs[(w+n+attempt)%len(addrs)], id, body, hdr)
			s.mu.Lock()
			s.log = append(s.log, a)
			if a.status == http.StatusOK {
				delete(s.unacked, id)
			}
			s.mu.Unlock()
			if a.status == http.StatusOK {
				break
			}
			if s.stopped() {
				if drainDeadline.IsZero() {
					drainDeadline = time.Now().Add(30 * time.Second)
				}
				if time.Now().After(drainDeadline) {
					return // reported as unacked
				}
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
}

func (s *sender) send(addr, id string, body []byte, hdr map[string]string) sent {
	a := sent{id: id, addr: addr, at: time.Now()}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/github", bytes.NewReader(body))
	if err != nil {
		a.err = err
		return a
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	a.answer = time.Now()
	if err != nil {
		a.err = err
		return a
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a.answer = time.Now()
	if err != nil {
		// The status line came, the body did not: the bridge died while answering. A
		// provider treats that as no answer and retries.
		a.err = err
		return a
	}
	a.status = resp.StatusCode
	a.retryAfter = resp.Header.Get("Retry-After")
	var r struct {
		ID        string `json:"id"`
		Seq       uint64 `json:"seq"`
		Duplicate bool   `json:"duplicate"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &r); err != nil || r.ID != "github:"+id {
			s.t.Errorf("delivery %s: 200 with body %q", id, raw)
		}
		a.seq, a.duplicate = r.Seq, r.Duplicate
	}
	return a
}

// attempts returns a copy of every attempt so far.
func (s *sender) attempts() []sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sent(nil), s.log...)
}

// stored200 counts the attempts answered 200 so far.
func (s *sender) stored200() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.log {
		if a.status == http.StatusOK {
			n++
		}
	}
	return n
}

// waitStored waits until at least n more deliveries got a 200 than when it was called.
func (s *sender) waitStored(n int, within time.Duration, what string) {
	s.t.Helper()
	base := s.stored200()
	deadline := time.Now().Add(within)
	for s.stored200() < base+n {
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: fewer than %d deliveries stored within %s", what, n, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// summary describes the attempts by answer, for the test log.
func summary(log []sent) string {
	counts := map[string]int{}
	for _, a := range log {
		switch {
		case a.status == 0 && refused(a.err):
			counts["refused"]++
		case a.status == 0:
			counts["cut off"]++
		case a.status == 200 && a.duplicate:
			counts["200 duplicate"]++
		default:
			counts[fmt.Sprint(a.status)]++
		}
	}
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d attempts (%s)", len(log), strings.Join(parts, ", "))
}

// refused tells a connection that was never accepted (nothing listening) from one cut off
// after the request was sent.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// checkExactlyOnce stops the sender and holds its record against what the WEBHOOKS stream
// holds: every delivery the sender started was in the end acknowledged, each is stored
// exactly once, every 200 named the sequence it is stored at, nothing else is stored, every
// 503 carried Retry-After, and no answer was other than 200 or 503. It returns the attempts.
func (s *sender) checkExactlyOnce(js jetstream.JetStream) []sent {
	s.t.Helper()
	began := time.Now()
	s.halt()
	s.t.Logf("load stopped; the last deliveries settled in %s", time.Since(began).Round(time.Millisecond))
	log := s.attempts()
	s.mu.Lock()
	ids, unacked := append([]string(nil), s.ids...), len(s.unacked)
	s.mu.Unlock()
	if unacked > 0 {
		s.t.Errorf("%d deliveries never got a 200 (retried for 30s after the load stopped)", unacked)
	}
	for _, a := range log {
		switch {
		case a.status == 0, a.status == 200:
		case a.status == 503:
			if a.retryAfter == "" {
				s.t.Errorf("delivery %s: 503 without Retry-After", a.id)
			}
		default:
			s.t.Errorf("delivery %s: answered %d, want 200 or 503", a.id, a.status)
		}
	}
	byID := storedIDs(s.t, js)
	sent := map[string]bool{}
	for _, id := range ids {
		sent["github:"+id] = true
	}
	for id, seqs := range byID {
		if !sent[id] {
			s.t.Errorf("stream holds %s, which was never sent", id)
		}
		if len(seqs) != 1 {
			s.t.Errorf("%s stored %d times (seqs %v)", id, len(seqs), seqs)
			s.explain(js, strings.TrimPrefix(id, "github:"), seqs, log)
		}
	}
	lost := 0
	for _, a := range log {
		if a.status != 200 {
			continue
		}
		seqs := byID["github:"+a.id]
		switch {
		case len(seqs) == 0:
			lost++
			s.t.Errorf("delivery %s got 200 (seq %d) but is not in the stream", a.id, a.seq)
		case a.seq != seqs[0]:
			s.t.Errorf("delivery %s: a 200 named seq %d, stored at %v", a.id, a.seq, seqs)
		}
	}
	// A delivery answered 503 (or not at all) may be stored all the same (the publish reached
	// the stream, its acknowledgement did not reach the bridge): the retry must find it.
	failed, late := map[string]bool{}, 0
	for _, a := range log {
		switch {
		case a.status != 200:
			failed[a.id] = true
		case a.duplicate && failed[a.id]:
			late++
		}
	}
	s.t.Logf("%d deliveries, %s; %d distinct ids stored, %d acknowledged ones lost; %d failed attempts were stored all the same and their retry answered as a duplicate",
		len(ids), summary(log), len(byID), lost, late)
	return log
}

// explain logs, for a delivery stored more than once, when each copy was stored and every
// attempt the sender made of it.
func (s *sender) explain(js jetstream.JetStream, id string, seqs []uint64, log []sent) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := js.Stream(ctx, subjects.StreamWebhooks); err == nil {
		for _, seq := range seqs {
			if m, err := st.GetMsg(ctx, seq); err == nil {
				s.t.Logf("  %s: seq %d stored at %s", id, seq, m.Time.Format("15:04:05.000"))
			}
		}
	}
	for _, a := range log {
		if a.id == id {
			s.t.Logf("  %s: attempt to %s at %s, answered at %s: status %d seq %d duplicate %t err %v",
				id, a.addr, a.at.Format("15:04:05.000"), a.answer.Format("15:04:05.000"), a.status, a.seq, a.duplicate, a.err)
		}
	}
}

// storedIDs reads the whole WEBHOOKS stream and returns the sequences at which each event
// id (ce-id) is stored. It reads message by message from the stream leader, so it needs no
// consumer (and no JetStream meta leader) and retries while the stream is between leaders.
func storedIDs(t *testing.T, js jetstream.JetStream) map[string][]uint64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	retry := func(what string, err error) {
		t.Helper()
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var st jetstream.Stream
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var err error
		st, err = js.Stream(ctx, subjects.StreamWebhooks)
		cancel()
		if err == nil {
			break
		}
		retry("stream info", err)
	}
	last := st.CachedInfo().State.LastSeq
	out := map[string][]uint64{}
	for seq := uint64(1); seq <= last; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		m, err := st.GetMsg(ctx, seq)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			seq++ // nothing is ever deleted here; keep reading all the same
		case err != nil:
			retry(fmt.Sprintf("get seq %d", seq), err)
		default:
			id := m.Header.Get(subjects.HeaderID)
			out[id] = append(out[id], m.Sequence)
			seq++
		}
	}
	return out
}

// freeAddr returns a loopback address that was free a moment ago, for a server that must
// come back on the same address after a restart. Its port is below the kernel's range of
// ephemeral ports: a port from that range can be taken, between this check and the
// server's bind or while the server is down, by the local end of any outgoing connection
// (the cluster's own routes among them).
func freeAddr(t *testing.T) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low > 11000 {
		for range 200 {
			port := 10000 + rand.IntN(low-10000)
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err == nil {
				ln.Close()
				return ln.Addr().String()
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

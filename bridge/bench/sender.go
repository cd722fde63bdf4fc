package bench

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Target is where and how webhooks are sent.
type Target struct {
	// URL is the server's base URL; requests go to URL + "/webhooks/" + Source.
	URL string
	// Source is the configured source name: the path's last segment and the prefix of the
	// event ids hookbus stores ("<source>:<delivery id>").
	Source string
	// Secret signs every body (GitHub's X-Hub-Signature-256).
	Secret string
	// Event is the X-GitHub-Event header; "issues" when empty.
	Event string
	// BodySize is the body length in bytes; 1024 when zero.
	BodySize int
	// Timeout bounds each request's write and read; 10s when zero.
	Timeout time.Duration
}

func (t *Target) defaults() error {
	if t.Source == "" {
		return errors.New("bench: a source is required")
	}
	if t.Event == "" {
		t.Event = "issues"
	}
	if t.BodySize == 0 {
		t.BodySize = 1024
	}
	if t.Timeout <= 0 {
		t.Timeout = 10 * time.Second
	}
	return nil
}

// client returns a keep-alive client of at most conns connections to the target, and the
// request URI.
func (t *Target) client(conns int) (*fasthttp.HostClient, string, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, "", fmt.Errorf("bench: url %q: %w", t.URL, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, "", fmt.Errorf("bench: url %q: want http://host:port", t.URL)
	}
	hc := &fasthttp.HostClient{
		Addr:                u.Host,
		Name:                "hookbus-bench",
		MaxConns:            conns,
		ReadTimeout:         t.Timeout,
		WriteTimeout:        t.Timeout,
		MaxIdleConnDuration: time.Minute,
		MaxConnWaitTimeout:  t.Timeout,
	}
	return hc, strings.TrimSuffix(t.URL, "/") + "/webhooks/" + t.Source, nil
}

// sender sends one connection's worth of requests; each goroutine has its own.
type sender struct {
	hc      *fasthttp.HostClient
	run     uint32
	id      uint16
	payload *Payload
	req     fasthttp.Request
	resp    fasthttp.Response
	idBuf   []byte
	next    uint64   // requests sent so far; the next one's N
	acked   []uint64 // bitset of N answered 2xx
}

func newSender(t *Target, hc *fasthttp.HostClient, uri string, run uint32, id uint16) (*sender, error) {
	p, err := NewPayload(t.BodySize, t.Secret)
	if err != nil {
		return nil, err
	}
	s := &sender{hc: hc, run: run, id: id, payload: p, idBuf: make([]byte, 0, IDLen)}
	s.req.Header.SetMethod(fasthttp.MethodPost)
	s.req.SetRequestURI(uri)
	s.req.Header.SetContentType("application/json")
	s.req.Header.Set("User-Agent", "GitHub-Hookshot/hookbus-bench")
	s.req.Header.Set("X-GitHub-Event", t.Event)
	return s, nil
}

// send sends the next delivery, stamped with sent (Unix nanoseconds, 0 for none), and
// returns its status (0 on a transport error) and how long the answer took.
func (s *sender) send(sent int64) (status int, took time.Duration, err error) {
	n := s.next
	s.next++
	s.idBuf = DeliveryID{Run: s.run, Sender: s.id, N: n}.Append(s.idBuf[:0])
	body, sig := s.payload.Build(s.idBuf, sent)
	s.req.Header.SetBytesV("X-GitHub-Delivery", s.idBuf)
	s.req.Header.SetBytesV("X-Hub-Signature-256", sig)
	s.req.SetBody(body)
	began := time.Now()
	err = s.hc.Do(&s.req, &s.resp)
	took = time.Since(began)
	if err != nil {
		return 0, took, err
	}
	status = s.resp.StatusCode()
	if status >= 200 && status < 300 {
		w := n / 64
		for uint64(len(s.acked)) <= w {
			s.acked = append(s.acked, 0)
		}
		s.acked[w] |= 1 << (n % 64)
	}
	return status, took, nil
}

// ledger is what a run sent and what was acknowledged, by sender.
type ledger struct {
	run   uint32
	sent  []uint64   // by sender: requests sent
	acked [][]uint64 // by sender: bitset of N answered 2xx
}

func ledgerOf(run uint32, senders []*sender) *ledger {
	l := &ledger{run: run}
	for _, s := range senders {
		l.sent = append(l.sent, s.next)
		l.acked = append(l.acked, s.acked)
	}
	return l
}

func (l *ledger) isAcked(sender uint16, n uint64) bool {
	if int(sender) >= len(l.acked) {
		return false
	}
	a := l.acked[sender]
	w := n / 64
	return w < uint64(len(a)) && a[w]&(1<<(n%64)) != 0
}

func (l *ledger) ackedCount() int64 {
	var c int64
	for _, a := range l.acked {
		for _, w := range a {
			for ; w != 0; w &= w - 1 {
				c++
			}
		}
	}
	return c
}

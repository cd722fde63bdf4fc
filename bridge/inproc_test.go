package bridge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestInProcessHeaders stores the same messages through nats.go and through the
// in-process connection: the stream holds the same headers, values trimmed and with line
// breaks replaced, several values of one key kept.
func TestInProcessHeaders(t *testing.T) {
	ns := embeddedtest.Start(t)
	nc, js := embeddedtest.Connect(t, ns, ns.InProcess())
	ctx := context.Background()
	if err := EnsureStreams(ctx, js, subjects.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	viaNATS, err := NewStreamPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer viaNATS.Close()
	direct, err := NewInProcessPublisher(ns.InProcessConn, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	s, err := js.Stream(ctx, subjects.StreamWebhooks)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range []nats.Header{
		nil,
		{},
		{"A": {"1"}},
		{"Multi": {"x", " y ", ""}, "Empty": {}},
		{"Breaks": {"a\r\nInjected: yes", "b\nc\rd"}, "Spaces": {"\t padded \t"}},
		{"Utf8": {"délivré ✓"}, "ce-type": {"issues.opened"}},
	} {
		var got [2]*jetstreamMsg
		for j, p := range []*StreamPublisher{viaNATS, direct} {
			m := &nats.Msg{Subject: subjects.Webhook("github", "push"), Header: h, Data: []byte("body " + strconv.Itoa(i))}
			seq, _, err := p.storeBlock(ctx, m, nil)
			if err != nil {
				t.Fatalf("case %d, publisher %d: %v", i, j, err)
			}
			raw, err := s.GetMsg(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			got[j] = &jetstreamMsg{subject: raw.Subject, header: raw.Header, data: string(raw.Data)}
		}
		if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
			t.Errorf("case %d: stored through nats.go %v, in-process %v", i, got[0], got[1])
		}
		if got[1].header.Get("Injected") != "" {
			t.Errorf("case %d: a line break in a value made a header", i)
		}
	}
}

type jetstreamMsg struct {
	subject string
	header  nats.Header
	data    string
}

// TestInProcessRefusesBadMessages: what the server would refuse, or what would break the
// protocol, fails before anything is written, and the connection stays usable.
func TestInProcessRefusesBadMessages(t *testing.T) {
	p, js, _ := publisherFor(t, "in-process")
	ctx := context.Background()
	if err := EnsureStreams(ctx, js, subjects.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 2<<20)
	for _, c := range []struct {
		msg  *nats.Msg
		want error
	}{
		{&nats.Msg{Subject: ""}, nats.ErrBadSubject},
		{&nats.Msg{Subject: "webhooks.github.a b"}, nats.ErrBadSubject},
		{&nats.Msg{Subject: "webhooks.github.a\r\nPUB x 0"}, nats.ErrBadSubject},
		{&nats.Msg{Subject: "webhooks..github"}, nats.ErrBadSubject},
		{&nats.Msg{Subject: "webhooks.github."}, nats.ErrBadSubject},
		{&nats.Msg{Subject: "webhooks.github.push", Header: nats.Header{"Bad Key": {"v"}}}, nats.ErrBadHeaderMsg},
		{&nats.Msg{Subject: "webhooks.github.push", Header: nats.Header{"Bad:Key": {"v"}}}, nats.ErrBadHeaderMsg},
		{&nats.Msg{Subject: "webhooks.github.push", Data: big}, nats.ErrMaxPayload},
	} {
		if _, _, err := p.storeBlock(ctx, c.msg, nil); !errors.Is(err, c.want) {
			t.Errorf("%.40q: %v, want %v", c.msg.Subject, err, c.want)
		}
	}
	if seq, _, err := p.storeBlock(ctx, webhookMsg("after"), nil); err != nil || seq != 1 {
		t.Fatalf("publish after the refusals: %d, %v", seq, err)
	}
}

// TestInProcessAuth logs in with the bridge's user when the embedded server has auth on,
// and fails at once with a wrong password.
func TestInProcessAuth(t *testing.T) {
	ns, err := embedded.Start(embedded.Config{
		Listen: "127.0.0.1:-1", StoreDir: t.TempDir(),
		Users: []embedded.User{{Name: "bridge", Password: "right", Admin: true}, {Name: "agent1", Password: "a"}},
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	if _, err := NewInProcessPublisher(ns.InProcessConn, "bridge", "wrong"); err == nil ||
		!strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := NewInProcessPublisher(ns.InProcessConn, "", ""); err == nil {
		t.Fatal("no user: connected")
	}
	p, err := NewInProcessPublisher(ns.InProcessConn, "bridge", "right")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, js := embeddedtest.Connect(t, ns, nats.UserInfo("bridge", "right"))
	if err := EnsureStreams(context.Background(), js, subjects.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if seq, _, err := p.storeBlock(context.Background(), webhookMsg("x"), nil); err != nil || seq != 1 {
		t.Fatalf("publish: %d, %v", seq, err)
	}
}

// TestInProcessAnswersPings keeps the connection through many of the server's pings: a
// client that does not answer them is closed as stale after two.
func TestInProcessAnswersPings(t *testing.T) {
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoSigs: true, JetStream: true, StoreDir: t.TempDir(),
		PingInterval: 20 * time.Millisecond, MaxPingsOut: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	p, err := NewInProcessPublisher(ns.InProcessConn, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	conn := p.tr.(*inprocTransport).cur.Load()
	time.Sleep(300 * time.Millisecond) // 15 pings
	if conn.failed() {
		t.Fatalf("connection closed: %v", conn.error())
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	echo, err := nc.Subscribe("echo", func(m *nats.Msg) { m.Respond([]byte(`{"stream":"E","seq":7}`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Unsubscribe()
	nc.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if seq, _, err := p.storeBlock(ctx, &nats.Msg{Subject: "echo"}, nil); err != nil || seq != 7 {
		t.Fatalf("publish after the pings: %d, %v", seq, err)
	}
	if conn != p.tr.(*inprocTransport).cur.Load() {
		t.Fatal("the connection was replaced")
	}
}

// TestInProcessReconnects: when the server closes the connection, a publish waiting for its
// acknowledgement fails at once instead of at its deadline, and a later publish dials a
// new connection.
func TestInProcessReconnects(t *testing.T) {
	ns, p, nc, js := inProcessFor(t)
	ctx := context.Background()
	if err := EnsureStreams(ctx, js, subjects.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	errc := publishHeld(t, nc, p)
	disconnect(t, ns.NATS(), wireName)
	select {
	case err := <-errc:
		if !errors.Is(err, errLost) {
			t.Fatalf("publish in flight: %v, want errLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publish in flight still waiting after its connection closed")
	}
	// Until redialGap has passed a publish fails fast; then one dials again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		seq, _, err := p.storeBlock(ctx, webhookMsg("after"), nil)
		if err == nil {
			if seq != 1 {
				t.Fatalf("after reconnecting: seq %d", seq)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no publish succeeded after the disconnect: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inProcessFor starts an embedded server for a test and returns it with an in-process
// publisher and a nats.go connection to it.
func inProcessFor(t *testing.T) (*embedded.Server, *StreamPublisher, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	ns := embeddedtest.Start(t)
	nc, js := embeddedtest.Connect(t, ns)
	p, err := NewInProcessPublisher(ns.InProcessConn, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return ns, p, nc, js
}

// publishHeld starts a publish through p that a subscriber on nc receives and never
// answers, and returns once it is in flight; the publish's error arrives on the channel.
func publishHeld(t *testing.T, nc *nats.Conn, p *StreamPublisher) <-chan error {
	t.Helper()
	held := make(chan struct{}, 1)
	sub, err := nc.Subscribe("silent", func(*nats.Msg) { held <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _, err := p.storeBlock(ctx, &nats.Msg{Subject: "silent"}, nil)
		errc <- err
	}()
	<-held
	return errc
}

// disconnect closes the server's side of every connection named name.
func disconnect(t *testing.T, ns *server.Server, name string) {
	t.Helper()
	cz, err := ns.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cz.Conns {
		if c.Name == name {
			if err := ns.DisconnectClientByID(c.Cid); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no connection named %q", name)
	}
}

// TestInProcessServerShutdown: publishes in flight when the server stops fail at once, and
// later ones fail too.
func TestInProcessServerShutdown(t *testing.T) {
	ns, p, nc, _ := inProcessFor(t)
	errc := publishHeld(t, nc, p)
	ns.Shutdown()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("publish in flight succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publish in flight still waiting after the server stopped")
	}
	time.Sleep(redialGap)
	if _, _, err := p.storeBlock(context.Background(), webhookMsg("x"), nil); err == nil {
		t.Fatal("publish to a stopped server succeeded")
	}
}

// TestInProcessBacklog: against a server that stops reading, publishes fail once the
// backlog (wireMaxBacklog, 1 MiB here) waits to be written, and nothing blocks.
func TestInProcessBacklog(t *testing.T) {
	client, srv := net.Pipe()
	defer srv.Close()
	go func() {
		r := bufio.NewReader(srv)
		fmt.Fprintf(srv, "INFO {\"max_payload\":%d,\"headers\":true}\r\n", 64<<10)
		for { // CONNECT, SUB, PING
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "PING") {
				io.WriteString(srv, "PONG\r\n")
				break
			}
		}
		// Read one buffer of publishes, then nothing more.
		r.Read(make([]byte, 4096))
	}()
	c, err := openWire(client, "", "", "_INBOX.x.*.*", func(string, []byte, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	defer c.fail(nats.ErrConnectionClosed)
	c.backlog = 1 << 20
	msg := &nats.Msg{Subject: "webhooks.a.b", Data: make([]byte, 64<<10-1)}
	var n int
	for n = 0; n < 100; n++ {
		if err := c.publish(msg, nil, "_INBOX.x.1.1"); err != nil {
			if !errors.Is(err, errBacklog) {
				t.Fatalf("publish %d: %v", n, err)
			}
			break
		}
	}
	// The writer took what was queued at its first wake-up and blocks; what came after
	// fills the backlog up to one message past it.
	c.mu.Lock()
	queued := len(c.out)
	c.mu.Unlock()
	if n == 100 || queued <= c.backlog || queued > c.backlog+len(msg.Data)+100 {
		t.Fatalf("after %d publishes of 64 KiB: %d bytes queued, backlog %d", n, queued, c.backlog)
	}
}

func TestWireRead(t *testing.T) {
	for _, c := range []struct {
		in      string
		kind    int
		subject string
		hdr     string
		data    string
		err     bool
	}{
		{in: "MSG a.b 1 5\r\nhello\r\n", kind: opMsg, subject: "a.b", data: "hello"},
		{in: "MSG a.b 1 reply.x 0\r\n\r\n", kind: opMsg, subject: "a.b"},
		{in: "msg  a.b  1  2\r\nhi\r\n", kind: opMsg, subject: "a.b", data: "hi"},
		{in: "HMSG _INBOX.x.1.2 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n", kind: opMsg, subject: "_INBOX.x.1.2", hdr: "NATS/1.0 503\r\n\r\n"},
		{in: "HMSG s 1 r 12 14\r\nNATS/1.0\r\n\r\nok\r\n", kind: opMsg, subject: "s", hdr: "NATS/1.0\r\n\r\n", data: "ok"},
		{in: "PING\r\n", kind: opPing},
		{in: "PONG\n", kind: opPong},
		{in: "+OK\r\n", kind: opOK},
		{in: "-ERR 'Authorization Violation'\r\n", kind: opErr, data: "Authorization Violation"},
		{in: "INFO {\"max_payload\":1}\r\n", kind: opInfo, data: `{"max_payload":1}`},
		{in: "MSG a.b 1 5\r\nhello", err: true},            // cut short
		{in: "MSG a.b 1 5\r\nhelloXY", err: true},          // no CRLF after the payload
		{in: "MSG a.b 1\r\n", err: true},                   // no size
		{in: "MSG a.b 1 r x 5\r\nhello\r\n", err: true},    // too many arguments
		{in: "MSG a.b 1 -5\r\n", err: true},                // negative size
		{in: "MSG a.b 1 999999999\r\n", err: true},         // above wireMaxMsg
		{in: "HMSG a 1 10 5\r\n0123456789\r\n", err: true}, // header larger than the message
		{in: "HMSG a 1 5\r\nhello\r\n", err: true},         // one size only
		{in: "BOGUS\r\n", err: true},
		{in: "PING", err: true},
		{in: "", err: true},
		{in: strings.Repeat("x", 40000) + "\r\n", err: true},
	} {
		var op wireOp
		err := op.read(bufio.NewReaderSize(strings.NewReader(c.in), 32<<10))
		if (err != nil) != c.err {
			t.Errorf("%.40q: error %v, want error %v", c.in, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		if op.kind != c.kind || string(op.subject) != c.subject || string(op.hdr) != c.hdr || string(op.data) != c.data {
			t.Errorf("%.40q: read %d %q %q %q", c.in, op.kind, op.subject, op.hdr, op.data)
		}
	}
	var op wireOp
	op.hdr = []byte("NATS/1.0 503\r\n\r\n")
	if !op.noResponders() {
		t.Error("503 status not read as no responders")
	}
	op.hdr = []byte("NATS/1.0 5031\r\n\r\n")
	if op.noResponders() {
		t.Error("5031 status read as no responders")
	}
}

// FuzzWireRead reads arbitrary server output: never a panic, never a read past what was
// given, and a well-formed MSG built from the input reads back as it was written.
func FuzzWireRead(f *testing.F) {
	for _, s := range []string{
		"MSG a.b 1 5\r\nhello\r\nPING\r\n",
		"HMSG _INBOX.x.1.2 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
		"INFO {}\r\n-ERR 'x'\r\nPONG\r\n+OK\r\n",
		"MSG a 1 r 3\r\nabc\r\nMSG b 1 0\r\n\r\n",
	} {
		f.Add([]byte(s), "a.b", []byte("payload"))
	}
	f.Fuzz(func(t *testing.T, in []byte, subject string, payload []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(in), 4096)
		var op wireOp
		for range 64 {
			if err := op.read(r); err != nil {
				break
			}
			if op.kind == opMsg && len(op.hdr)+len(op.data) > len(in) {
				t.Fatalf("read a message of %d bytes from %d", len(op.hdr)+len(op.data), len(in))
			}
		}
		if !validSubject(subject) || len(subject) > 1000 {
			return
		}
		msg := fmt.Appendf(nil, "MSG %s 1 %d\r\n%s\r\n", subject, len(payload), payload)
		if err := op.read(bufio.NewReaderSize(bytes.NewReader(msg), 4096)); err != nil {
			t.Fatalf("%q: %v", msg, err)
		}
		if op.kind != opMsg || string(op.subject) != subject || !bytes.Equal(op.data, payload) {
			t.Fatalf("%q read as %q %q", msg, op.subject, op.data)
		}
	})
}

// TestEnvelopeBlock: the header block an envelope writes holds what its header map holds,
// as the envelope is reused with and without a delivery id.
func TestEnvelopeBlock(t *testing.T) {
	env := newEnvelope()
	for i, delivery := range []string{"", "d-1", "d-2", "", "", " spaced\r\nvalue ", ""} {
		for k := range env.vals {
			env.vals[k][0] = fmt.Sprintf("v%d-%d", i, k)
		}
		env.vals[hTraceparent][0] = "" // absent from the request: an empty value
		env.setDelivery(delivery)
		want, err := nats.DecodeHeadersMsg(appendHeader(nil, env.msg.Header))
		if err != nil {
			t.Fatal(err)
		}
		got, err := nats.DecodeHeadersMsg(env.appendBlock(nil))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("delivery %q: block %v, map %v", delivery, got, want)
		}
		if (got.Get(subjects.HeaderDeliveryID) != "") != (delivery != "") {
			t.Errorf("delivery %q: block has %q", delivery, got.Get(subjects.HeaderDeliveryID))
		}
	}
}

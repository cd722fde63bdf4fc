package bridge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// The in-process transport is a NATS client connection of the publisher's own to the
// embedded server, for the request path only: HPUB out, the acknowledgements in as MSG,
// and PING, PONG, INFO and -ERR handled; nothing else of the client protocol. It copies an
// event's header block, which the envelope wrote once into a buffer of its own (or which it
// writes from the header map), straight into the outgoing buffer, and hands each
// acknowledgement to its request from the goroutine that reads it. A nats.go connection
// allocates and fills a header block per publish, and routes each acknowledgement through
// a second goroutine.

const (
	wireHandshakeTimeout = 5 * time.Second
	// A connection whose server has not read what was written for between wireWriteTimeout
	// and twice that fails; the next publish dials a new one. The deadline is moved once
	// per wireWriteTimeout, not at every write: setting it costs a timer.
	wireWriteTimeout = 30 * time.Second
	// wireMaxBacklog bounds what publishes may queue for writing while the server reads
	// slowly (wireConn.backlog); beyond it a publish fails at once.
	wireMaxBacklog = 64 << 20
	// wireMaxControl bounds a protocol line from the server, wireMaxMsg a message.
	wireMaxControl = 4096
	wireMaxMsg     = 64 << 20
	// wireName is the connection's name in the server's connection list, beside the
	// bridge's nats.go connection, "hookbus-bridge".
	wireName = "hookbus-ingress"
	// redialGap is the least time between two dials after a connection failed.
	redialGap = 250 * time.Millisecond
)

var (
	// errBacklog is the error of a publish while more than the backlog waits to be written.
	errBacklog = errors.New("bridge: NATS connection backlog full")
	// errProtocol reports a server message this client cannot read.
	errProtocol = errors.New("bridge: NATS protocol error")
)

// NewInProcessPublisher returns a StreamPublisher that publishes over connections of its
// own, which dial returns (embedded.Server.InProcessConn), logging in with user and
// password when user is not empty. It dials once before it returns; after a connection
// fails, the next publish dials again, at most once per redialGap.
func NewInProcessPublisher(dial func() (net.Conn, error), user, password string) (*StreamPublisher, error) {
	p := &StreamPublisher{prefix: nats.InboxPrefix + nuid.Next() + ".", waiters: map[uint64]*waiter{}}
	t := &inprocTransport{dial: dial, user: user, password: password, sub: p.prefix + "*.*", deliver: p.deliver}
	c, err := t.open()
	if err != nil {
		return nil, err
	}
	t.cur.Store(c)
	t.lastDial = time.Now()
	p.tr = t
	return p, nil
}

type inprocTransport struct {
	dial           func() (net.Conn, error)
	user, password string
	sub            string // the subject of the acknowledgement subscription
	deliver        func(subject string, data []byte, noResponders bool)

	cur      atomic.Pointer[wireConn]
	mu       sync.Mutex // dialing
	lastDial time.Time
	closed   bool
}

func (t *inprocTransport) send(msg *nats.Msg, block []byte, reply string) (<-chan struct{}, error) {
	c := t.cur.Load()
	if c.failed() {
		var err error
		if c, err = t.redial(c); err != nil {
			return nil, err
		}
	}
	if err := c.publish(msg, block, reply); err != nil {
		return nil, err
	}
	return c.dead, nil
}

// redial replaces the failed connection old, unless another publish did already.
func (t *inprocTransport) redial(old *wireConn) (*wireConn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, nats.ErrConnectionClosed
	}
	if c := t.cur.Load(); c != old {
		return c, nil
	}
	if time.Since(t.lastDial) < redialGap {
		return nil, old.error()
	}
	t.lastDial = time.Now()
	c, err := t.open()
	if err != nil {
		return nil, err
	}
	t.cur.Store(c)
	return c, nil
}

func (t *inprocTransport) open() (*wireConn, error) {
	conn, err := t.dial()
	if err != nil {
		return nil, fmt.Errorf("bridge: connect to NATS: %w", err)
	}
	c, err := openWire(conn, t.user, t.password, t.sub, t.deliver)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("bridge: connect to NATS: %w", err)
	}
	return c, nil
}

func (t *inprocTransport) close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cur.Load().fail(nats.ErrConnectionClosed)
	return nil
}

// wireConn is one connection of the in-process transport.
type wireConn struct {
	conn       net.Conn
	maxPayload int64
	backlog    int // wireMaxBacklog but in tests
	deliver    func(subject string, data []byte, noResponders bool)
	kick       chan struct{} // something to write
	dead       chan struct{} // closed when the connection failed

	mu        sync.Mutex
	out       []byte // protocol waiting to be written
	err       error  // why the connection failed
	serverErr string // the last -ERR of the server
}

// wireConnect is the CONNECT message.
type wireConnect struct {
	Verbose      bool   `json:"verbose"`
	Pedantic     bool   `json:"pedantic"`
	Name         string `json:"name"`
	Lang         string `json:"lang"`
	Version      string `json:"version"`
	Protocol     int    `json:"protocol"`
	Headers      bool   `json:"headers"`
	NoResponders bool   `json:"no_responders"`
	User         string `json:"user,omitempty"`
	Pass         string `json:"pass,omitempty"`
}

// openWire logs in on conn, subscribes to sub with the id 1 and starts reading and writing.
func openWire(conn net.Conn, user, password, sub string, deliver func(string, []byte, bool)) (*wireConn, error) {
	if err := conn.SetDeadline(time.Now().Add(wireHandshakeTimeout)); err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(conn, 32<<10)
	var op wireOp
	if err := op.read(r); err != nil {
		return nil, err
	}
	if op.kind != opInfo {
		return nil, fmt.Errorf("%w: the server did not start with INFO", errProtocol)
	}
	var info struct {
		MaxPayload int64 `json:"max_payload"`
		Headers    bool  `json:"headers"`
	}
	if err := json.Unmarshal(op.data, &info); err != nil {
		return nil, fmt.Errorf("%w: INFO: %w", errProtocol, err)
	}
	if !info.Headers {
		return nil, nats.ErrHeadersNotSupported
	}
	hello, err := json.Marshal(wireConnect{
		Name: wireName, Lang: "go", Version: "hookbus", Protocol: 1,
		Headers: true, NoResponders: true, User: user, Pass: password,
	})
	if err != nil {
		return nil, err
	}
	b := append([]byte("CONNECT "), hello...)
	b = append(b, "\r\nSUB "...)
	b = append(b, sub...)
	b = append(b, " 1\r\nPING\r\n"...)
	if _, err := conn.Write(b); err != nil {
		return nil, err
	}
	for done := false; !done; {
		if err := op.read(r); err != nil {
			return nil, err
		}
		switch op.kind {
		case opPong:
			done = true
		case opErr:
			return nil, fmt.Errorf("NATS server: %s", op.data)
		case opPing:
			if _, err := conn.Write([]byte("PONG\r\n")); err != nil {
				return nil, err
			}
		case opInfo, opOK:
		default:
			return nil, fmt.Errorf("%w: unexpected message before PONG", errProtocol)
		}
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	c := &wireConn{
		conn: conn, maxPayload: info.MaxPayload, backlog: wireMaxBacklog, deliver: deliver,
		kick: make(chan struct{}, 1), dead: make(chan struct{}),
	}
	go c.readLoop(r, op)
	go c.writeLoop()
	return c, nil
}

func (c *wireConn) failed() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

func (c *wireConn) error() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail closes the connection for good, for the reason err.
func (c *wireConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if c.serverErr != "" {
		err = fmt.Errorf("%w (the server's last error: %s)", err, c.serverErr)
	}
	c.err = err
	c.out = nil
	close(c.dead)
	c.mu.Unlock()
	c.conn.Close()
}

// publish queues msg, with the reply subject reply, for writing. block, when not nil, is
// msg.Header already written by appendHeader or an equivalent.
func (c *wireConn) publish(msg *nats.Msg, block []byte, reply string) error {
	if !validSubject(msg.Subject) { // the reply is the publisher's own
		return nats.ErrBadSubject
	}
	hlen := len(block)
	if block == nil {
		var err error
		if hlen, err = headerLen(msg.Header); err != nil {
			return err
		}
	}
	size := hlen + len(msg.Data)
	if int64(size) > c.maxPayload {
		return nats.ErrMaxPayload
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	if len(c.out) > c.backlog {
		c.mu.Unlock()
		return errBacklog
	}
	b := c.out
	if hlen > 0 {
		b = append(b, "HPUB "...)
	} else {
		b = append(b, "PUB "...)
	}
	b = append(b, msg.Subject...)
	b = append(b, ' ')
	if reply != "" {
		b = append(b, reply...)
		b = append(b, ' ')
	}
	if hlen > 0 {
		b = strconv.AppendInt(b, int64(hlen), 10)
		b = append(b, ' ')
	}
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, "\r\n"...)
	switch {
	case block != nil:
		b = append(b, block...)
	case hlen > 0:
		b = appendHeader(b, msg.Header)
	}
	b = append(b, msg.Data...)
	c.out = append(b, "\r\n"...)
	c.mu.Unlock()
	c.wake()
	return nil
}

func (c *wireConn) wake() {
	select {
	case c.kick <- struct{}{}:
	default: // a wake-up is pending; it writes what is queued then
	}
}

// writeLoop writes what publishes queue, all of it at each wake-up.
func (c *wireConn) writeLoop() {
	var spare []byte
	var moved time.Time // when the write deadline was last set, to twice wireWriteTimeout on
	for {
		select {
		case <-c.kick:
		case <-c.dead:
			return
		}
		c.mu.Lock()
		out := c.out
		c.out = spare[:0]
		c.mu.Unlock()
		if len(out) > 0 {
			if now := time.Now(); now.Sub(moved) > wireWriteTimeout {
				if err := c.conn.SetWriteDeadline(now.Add(2 * wireWriteTimeout)); err != nil {
					c.fail(err)
					return
				}
				moved = now
			}
			if _, err := c.conn.Write(out); err != nil {
				c.fail(fmt.Errorf("bridge: NATS write: %w", err))
				return
			}
		}
		if cap(out) > 1<<20 {
			out = nil // a burst's buffer is not kept
		}
		spare = out
	}
}

// readLoop reads the server's messages until the connection fails. op holds the buffers
// of the handshake.
func (c *wireConn) readLoop(r *bufio.Reader, op wireOp) {
	for {
		if err := op.read(r); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) {
				err = nats.ErrConnectionClosed
			}
			c.fail(err)
			return
		}
		switch op.kind {
		case opMsg:
			c.deliver(unsafeString(op.subject), op.data, op.noResponders())
		case opPing:
			c.mu.Lock()
			if c.err == nil {
				c.out = append(c.out, "PONG\r\n"...)
			}
			c.mu.Unlock()
			c.wake()
		case opErr:
			c.mu.Lock()
			c.serverErr = string(op.data)
			c.mu.Unlock()
		}
	}
}

// Kinds of server message.
const (
	opInfo = iota + 1
	opMsg  // MSG or HMSG
	opPing
	opPong
	opOK
	opErr
)

// wireOp is one message from the server, read by read. Its slices stay valid until the
// next read.
type wireOp struct {
	kind    int
	subject []byte // MSG, HMSG
	hdr     []byte // HMSG: the header block
	data    []byte // MSG, HMSG: the payload; INFO: the JSON; -ERR: the text
	buf     []byte // holds subject, header and payload
}

// noResponders says whether a message is the server's answer that nothing listens on the
// subject of a request.
func (op *wireOp) noResponders() bool {
	const status = "NATS/1.0 503"
	return len(op.data) == 0 && bytes.HasPrefix(op.hdr, []byte(status)) &&
		(len(op.hdr) == len(status) || op.hdr[len(status)] == ' ' || op.hdr[len(status)] == '\r')
}

// read reads the next message from r.
func (op *wireOp) read(r *bufio.Reader) error {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) || len(line) > 0 && errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: unterminated line", errProtocol)
		}
		return err
	}
	if len(line) > wireMaxControl {
		return fmt.Errorf("%w: line of %d bytes", errProtocol, len(line))
	}
	line = bytes.TrimRight(line, "\r\n")
	name, rest, _ := bytes.Cut(line, []byte(" "))
	rest = bytes.TrimLeft(rest, " \t")
	*op = wireOp{buf: op.buf[:0]}
	switch {
	case bytes.EqualFold(name, []byte("MSG")), bytes.EqualFold(name, []byte("HMSG")):
		return op.readMsg(r, rest, len(name) == 4)
	case bytes.EqualFold(name, []byte("PING")):
		op.kind = opPing
	case bytes.EqualFold(name, []byte("PONG")):
		op.kind = opPong
	case bytes.EqualFold(name, []byte("+OK")):
		op.kind = opOK
	case bytes.EqualFold(name, []byte("-ERR")):
		op.kind, op.buf = opErr, append(op.buf, bytes.Trim(rest, "' ")...)
		op.data = op.buf
	case bytes.EqualFold(name, []byte("INFO")):
		op.kind, op.buf = opInfo, append(op.buf, rest...)
		op.data = op.buf
	default:
		return fmt.Errorf("%w: unknown message %.32q", errProtocol, name)
	}
	return nil
}

// readMsg reads the rest of a MSG (subject sid [reply] size) or an HMSG (subject sid
// [reply] header-size total-size) whose arguments are args.
func (op *wireOp) readMsg(r *bufio.Reader, args []byte, headers bool) error {
	var f [6][]byte
	n := 0
	for len(args) > 0 && n < len(f) {
		var a []byte
		a, args, _ = bytes.Cut(args, []byte(" "))
		args = bytes.TrimLeft(args, " \t")
		f[n] = bytes.TrimRight(a, " \t")
		n++
	}
	want := 3
	if headers {
		want = 4
	}
	if len(args) > 0 || n < want || n > want+1 {
		return fmt.Errorf("%w: malformed message arguments", errProtocol)
	}
	total, ok := wireSize(f[n-1])
	hsize := 0
	if headers {
		var hok bool
		hsize, hok = wireSize(f[n-2])
		ok = ok && hok && hsize <= total
	}
	if !ok || len(f[0]) == 0 {
		return fmt.Errorf("%w: malformed message arguments", errProtocol)
	}
	// The subject is copied: reading the payload may overwrite the line's buffer.
	op.buf = append(op.buf, f[0]...)
	subj := len(op.buf)
	if cap(op.buf)-subj < total+2 {
		op.buf = append(make([]byte, 0, subj+total+2), op.buf...)
	}
	body := op.buf[subj : subj+total+2]
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if body[total] != '\r' || body[total+1] != '\n' {
		return fmt.Errorf("%w: message not followed by CRLF", errProtocol)
	}
	op.kind = opMsg
	op.subject = op.buf[:subj]
	op.hdr, op.data = body[:hsize], body[hsize:total]
	return nil
}

// wireSize reads a decimal size of at most wireMaxMsg.
func wireSize(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= wireMaxMsg
}

// validSubject says whether s can be published to: tokens of printable characters
// without spaces, none of them empty.
func validSubject(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || c == '.' && s[i-1] == '.' {
			return false
		}
	}
	return true
}

// headerBlockStart opens a header block.
const headerBlockStart = "NATS/1.0\r\n"

// headerLen returns the size of h's header block as appendHeader writes it, or
// nats.ErrBadHeaderMsg for a key that cannot stand in a header.
func headerLen(h nats.Header) (int, error) {
	if len(h) == 0 {
		return 0, nil
	}
	n := len(headerBlockStart) + 2
	for k, vs := range h {
		if !validHeaderKey(k) {
			return 0, nats.ErrBadHeaderMsg
		}
		for _, v := range vs {
			n += len(k) + 4 + len(textproto.TrimString(v))
		}
	}
	return n, nil
}

// appendHeader appends h's header block.
func appendHeader(b []byte, h nats.Header) []byte {
	b = append(b, headerBlockStart...)
	for k, vs := range h {
		for _, v := range vs {
			b = appendHeaderField(b, k, v)
		}
	}
	return append(b, "\r\n"...)
}

// appendHeaderField appends one header line, the value trimmed of surrounding white space
// and with CR and LF replaced by spaces, as nats.go writes it. The key must be valid
// (validHeaderKey).
func appendHeaderField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	start := len(b)
	b = append(b, textproto.TrimString(v)...)
	for i := start; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			b[i] = ' '
		}
	}
	return append(b, "\r\n"...)
}

// validHeaderKey says whether k is printable ASCII without spaces or colons.
func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

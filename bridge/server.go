package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/horizon"
	"github.com/hookbus/hookbus/bridge/verify"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// Publisher stores a message and reports when it is stored. jetstream.JetStream satisfies
// it. PublishMsg must return a non-nil PubAck only once the stream has the message.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// webhooksPath is the path prefix of the ingress endpoint.
const webhooksPath = "/webhooks/"

// Server is the ingress HTTP server. Create it with New; it is safe for concurrent use.
type Server struct {
	log            zerolog.Logger
	sampled        zerolog.Logger // one accepted request in 100
	pub            Publisher
	headerBlocks   bool // pub takes each message's header block written by its envelope
	sources        map[string]*config.Source
	publishTimeout time.Duration
	http           *fasthttp.Server
	bufs           sync.Pool
	envelopes      sync.Pool // *envelope
	now            func() time.Time
	horizon        Horizon
	clients        *limiter                  // per client address; nil: no limit
	sourceRates    map[string]*sourceLimiter // per source; absent: no limit
	metrics        *Metrics
	srcMetrics     map[string]*sourceMetrics // by source name, "" for requests naming none
	ceSources      map[string]string         // ce-source of each source: "/webhooks/<name>"
	clock          stamps
	deadlines      deadlines
	durable        func() error // with sync: batch, waits for an fsync covering the event
	listeners      listeners
}

// WithGroupSync answers a stored event only after fsync has run once since its
// acknowledgement; concurrent requests share one fsync (group commit).
func WithGroupSync(fsync func() error) Option {
	return func(s *Server) { s.durable = newGroupSync(fsync).wait }
}

// deadlines hands out the publish deadline of a request: a context shared by every
// request that starts within the same 50 ms, expiring publishTimeout after the first of
// them, so that a request waits between publishTimeout-50ms and publishTimeout. Sharing
// saves a context and a timer per request.
type deadlines struct {
	timeout time.Duration
	cur     atomic.Pointer[deadline]
}

type deadline struct {
	ctx    context.Context
	cancel context.CancelFunc // never called early: requests still use it; the timer ends it
	until  time.Time          // hand it out until then
}

func (d *deadlines) get(now time.Time) context.Context {
	if c := d.cur.Load(); c != nil && now.Before(c.until) {
		return c.ctx
	}
	const share = 50 * time.Millisecond
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(d.timeout))
	d.cur.Store(&deadline{ctx: ctx, cancel: cancel, until: now.Add(min(share, d.timeout/2))})
	return ctx
}

// stamps formats ce-time to the millisecond, once per millisecond: under load many
// requests share one string.
type stamps struct{ last atomic.Pointer[stamp] }

type stamp struct {
	ms   int64
	text string
}

func (c *stamps) format(t time.Time) string {
	ms := t.UnixMilli()
	if s := c.last.Load(); s != nil && s.ms == ms {
		return s.text
	}
	s := &stamp{ms: ms, text: time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")}
	c.last.Store(s)
	return s.text
}

// WithMetrics counts requests, outcomes and latencies in m.
func WithMetrics(m *Metrics) Option { return func(s *Server) { s.metrics = m } }

// Option adjusts a Server.
type Option func(*Server)

// WithHorizon de-duplicates deliveries beyond the stream's duplicate window, for each
// source's dedupe horizon.
func WithHorizon(h Horizon) Option { return func(s *Server) { s.horizon = h } }

// New builds the ingress for the sources and HTTP settings of cfg, storing events through
// pub. It returns an error when cfg has no source at all.
func New(cfg *config.Config, pub Publisher, log zerolog.Logger, opts ...Option) (*Server, error) {
	if len(cfg.Sources) == 0 {
		return nil, errors.New("bridge: no sources configured")
	}
	s := &Server{
		log:            log,
		sampled:        log.Sample(&zerolog.BasicSampler{N: 100}),
		pub:            pub,
		sources:        make(map[string]*config.Source, len(cfg.Sources)),
		publishTimeout: cfg.NATS.PublishTimeout,
		now:            time.Now,
	}
	if s.publishTimeout <= 0 {
		s.publishTimeout = 5 * time.Second
	}
	s.deadlines.timeout = s.publishTimeout
	if st, ok := pub.(storer); ok {
		s.headerBlocks = st.takesBlocks()
	}
	for _, o := range opts {
		o(s)
	}
	s.srcMetrics = map[string]*sourceMetrics{"": s.metrics.forSource("")}
	for _, src := range cfg.Sources {
		s.srcMetrics[src.Name] = s.metrics.forSource(src.Name)
	}
	maxBody := cfg.HTTP.MaxBody
	s.clients = newLimiter(cfg.HTTP.ClientRate.PerSecond, cfg.HTTP.ClientRate.Burst)
	s.sourceRates = map[string]*sourceLimiter{}
	s.ceSources = make(map[string]string, len(cfg.Sources))
	for _, src := range cfg.Sources {
		s.sources[src.Name] = src
		s.ceSources[src.Name] = "/webhooks/" + src.Name
		if l := newSourceLimiter(src.Rate.PerSecond, src.Rate.Burst); l != nil {
			s.sourceRates[src.Name] = l
		}
		if src.MaxBody > maxBody {
			maxBody = src.MaxBody
		}
	}
	s.http = &fasthttp.Server{
		Handler:                      s.recoverer(s.handle),
		Name:                         "hookbus",
		ReadTimeout:                  cfg.HTTP.ReadTimeout,
		WriteTimeout:                 cfg.HTTP.WriteTimeout,
		IdleTimeout:                  cfg.HTTP.IdleTimeout,
		MaxRequestBodySize:           int(maxBody),
		StreamRequestBody:            true, // bodies over the limit are refused without buffering them
		DisablePreParseMultipartForm: true, // the raw bytes are what is signed
		NoDefaultServerHeader:        false,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		Logger:                       fasthttpLogger{log},
	}
	return s, nil
}

// Serve accepts connections on ln until Shutdown. It returns nil after a Shutdown, at once
// when Shutdown came first.
func (s *Server) Serve(ln net.Listener) error {
	if !s.listeners.add(ln) {
		return nil
	}
	return s.http.Serve(ln)
}

// Shutdown stops accepting requests and waits until every request in flight has been
// answered (each awaits its PubAck or its timeout), or until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.ShutdownWithContext(ctx)
	s.listeners.close()
	return err
}

// listeners are those handed to Serve. fasthttp's Shutdown closes only the listeners its
// Serve has registered: a Serve started in a goroutine just before a Shutdown may register
// its listener after Shutdown looked, and would then accept until the process ends. Closing
// every listener handed over ends such a Serve, and one handed over after Shutdown is closed
// at once.
type listeners struct {
	mu     sync.Mutex
	closed bool
	lns    []net.Listener
}

// add keeps ln, or closes it and reports false once close has run.
func (l *listeners) add(ln net.Listener) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = ln.Close()
		return false
	}
	l.lns = append(l.lns, ln)
	return true
}

func (l *listeners) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, ln := range l.lns {
		_ = ln.Close() // already closed by fasthttp's Shutdown, unless it came too early
	}
	l.lns = nil
}

// Handler returns the request handler, for serving on a listener of the caller's own.
func (s *Server) Handler() fasthttp.RequestHandler { return s.http.Handler }

func (s *Server) recoverer(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error().Interface("panic", p).Bytes("path", ctx.Path()).Msg("request handler panicked")
				s.reject(ctx, "", fmt.Errorf("panic: %v", p))
			}
		}()
		next(ctx)
	}
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	if s.clients != nil {
		addr, _ := netip.AddrFromSlice(ctx.RemoteIP())
		if ok, wait := s.clients.allow(addr.Unmap(), time.Now()); !ok {
			ctx.SetConnectionClose()
			s.reject(ctx, "", rateLimitError{wait})
			return
		}
	}
	path := ctx.Path()
	if !bytes.HasPrefix(path, []byte(webhooksPath)) {
		s.reject(ctx, "", ErrUnknownSource)
		return
	}
	src, ok := s.sources[string(path[len(webhooksPath):])]
	if !ok || src.Disabled != "" {
		s.reject(ctx, "", ErrUnknownSource)
		return
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, fasthttp.MethodPost)
		s.reject(ctx, src.Name, ErrMethod)
		return
	}
	if l := s.sourceRates[src.Name]; l != nil {
		if ok, wait := l.allow(time.Now()); !ok {
			ctx.SetConnectionClose() // the unread body is not read
			s.reject(ctx, src.Name, rateLimitError{wait})
			return
		}
	}
	buf := s.getBuf()
	defer s.bufs.Put(buf)
	body, err := s.readBody(ctx, src, buf)
	if err != nil {
		s.reject(ctx, src.Name, err)
		return
	}
	*buf = body
	sm := s.srcMetrics[src.Name]
	began := time.Now()
	res, err := src.Verifier.Verify(&verify.Request{
		Method:     fasthttp.MethodPost,
		RequestURI: unsafeString(ctx.RequestURI()),
		Host:       unsafeString(ctx.Host()),
		Header:     func(name string) string { return peek(ctx, name) },
		Body:       body,
		Now:        began,
	})
	if sm != nil {
		sm.verify.Observe(time.Since(began).Seconds())
	}
	if err != nil {
		s.reject(ctx, src.Name, err)
		return
	}
	// The request's strings live in its buffer (peek, unsafeString): keep copies of what
	// outlives the handler.
	res.DeliveryID, res.Event = strings.Clone(res.DeliveryID), strings.Clone(res.Event)
	if res.Reply != nil {
		ctx.SetStatusCode(res.Reply.Status)
		if res.Reply.ContentType != "" {
			ctx.SetContentType(res.Reply.ContentType)
		}
		ctx.SetBody(res.Reply.Body)
		sm.count(OutcomeHandshake)
		s.log.Info().Str("source", src.Name).Msg("provider handshake answered")
		return
	}
	var id string
	if res.DeliveryID != "" {
		id = subjects.WebhookID(src.Name, res.DeliveryID)
	} else {
		id = subjects.BodyID(src.Name, body)
	}
	pctx := s.deadlines.get(began)
	var key horizon.Key
	if s.horizon != nil {
		key = horizon.KeyOf(id)
	}
	if s.horizon != nil && src.DedupeHorizon > 0 {
		seq, at, seen, err := s.horizon.Seen(key)
		if err != nil {
			// Without the horizon a stored delivery could be stored twice: refuse for now.
			s.reject(ctx, src.Name, fmt.Errorf("%w: %w", ErrUnavailable, err))
			return
		}
		if seen && began.Sub(at) < src.DedupeHorizon {
			sm.count(OutcomeDuplicate)
			s.answer(ctx, id, seq, true)
			return
		}
	}
	env := s.message(ctx, src, res, id, body)
	defer s.envelopes.Put(env)
	msg := &env.msg
	if sm != nil {
		sm.inflight.Inc()
		began = time.Now()
	}
	seq, duplicate, err := s.publish(pctx, env)
	if sm != nil {
		sm.inflight.Dec()
		sm.publish.Observe(time.Since(began).Seconds())
	}
	if err != nil {
		if s.horizon != nil {
			s.horizon.Failed()
		}
		s.log.Warn().Err(err).Str("source", src.Name).Str("id", id).Msg("event not stored")
		s.reject(ctx, src.Name, fmt.Errorf("%w: %w", ErrUnavailable, err))
		return
	}
	if s.horizon != nil && !duplicate {
		s.horizon.Stored(key, seq)
	}
	if s.durable != nil {
		if err := s.durable(); err != nil {
			s.log.Error().Err(err).Str("source", src.Name).Str("id", id).Msg("event stored but not synced")
			s.reject(ctx, src.Name, fmt.Errorf("%w: %w", ErrUnavailable, err))
			return
		}
	}
	if duplicate {
		sm.count(OutcomeDuplicate)
	} else {
		sm.count(OutcomeStored)
	}
	s.sampled.Info().Str("source", src.Name).Str("subject", msg.Subject).Str("id", id).
		Uint64("seq", seq).Bool("duplicate", duplicate).Msg("webhook stored")
	s.answer(ctx, id, seq, duplicate)
}

// storer is what StreamPublisher adds to Publisher: a publish that allocates nothing.
type storer interface {
	// storeBlock publishes msg. block, when not nil, is msg.Header already written as a
	// NATS header block.
	storeBlock(ctx context.Context, msg *nats.Msg, block []byte) (seq uint64, duplicate bool, err error)
	// takesBlocks says whether storeBlock uses a header block instead of msg.Header.
	takesBlocks() bool
}

// publish stores env's message and waits for its acknowledgement until ctx ends. Once it
// returns, the publisher no longer holds the message.
func (s *Server) publish(ctx context.Context, env *envelope) (seq uint64, duplicate bool, err error) {
	msg := &env.msg
	if st, ok := s.pub.(storer); ok {
		return st.storeBlock(ctx, msg, env.block)
	}
	ack, err := s.pub.PublishMsg(ctx, msg)
	if err != nil {
		return 0, false, err
	}
	return ack.Sequence, ack.Duplicate, nil
}

// answer writes the 200 of a stored (or already stored) delivery.
func (s *Server) answer(ctx *fasthttp.RequestCtx, id string, seq uint64, duplicate bool) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	var b [256]byte // on the stack: SetBody copies it into the response's pooled buffer
	ctx.Response.SetBody(appendResult(b[:0], id, seq, duplicate))
}

// readBody reads the request body into buf, refusing it with ErrTooLarge as soon as it is
// known to exceed the source's limit, without reading the rest.
func (s *Server) readBody(ctx *fasthttp.RequestCtx, src *config.Source, buf *[]byte) ([]byte, error) {
	limit := src.MaxBody
	if cl := ctx.Request.Header.ContentLength(); cl > 0 && int64(cl) > limit {
		ctx.SetConnectionClose()
		return nil, ErrTooLarge
	}
	stream := ctx.RequestBodyStream()
	if stream == nil {
		body := ctx.Request.Body()
		if int64(len(body)) > limit {
			return nil, ErrTooLarge
		}
		return append((*buf)[:0], body...), nil
	}
	b := (*buf)[:0]
	r := io.LimitReader(stream, limit+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			ctx.SetConnectionClose()
			return nil, fmt.Errorf("%w: reading body: %w", ErrBadRequest, err)
		}
	}
	if int64(len(b)) > limit {
		ctx.SetConnectionClose()
		return nil, ErrTooLarge
	}
	return b, nil
}

func (s *Server) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

// envelope is a NATS message with its header map, reused from request to request. The
// map holds one single-element slice per header, and the envelope keeps the same slices,
// so the next message is built by writing the values in place, without a map operation.
type envelope struct {
	msg nats.Msg
	// vals are the values of the headers that change from event to event, by index
	// (hID…); ce-specversion is set once.
	vals [nHeaders][]string
	// delivery is the ce-deliveryid value, in the map only while a delivery id is known.
	delivery []string
	// block is the header map written as a NATS header block when the publisher takes
	// one (Server.headerBlocks), else nil. Envelopes are pooled per Server.
	block []byte
}

// The headers of every stored event that change from event to event, as indexes of
// envelope.vals.
const (
	hID = iota // ce-id, and Nats-Msg-Id, which shares its slice
	hSource
	hType
	hTime
	hContentType
	hVerifiedBy
	hTraceparent
	nHeaders
)

var envelopeHeaders = [nHeaders]string{
	hID: subjects.HeaderID, hSource: subjects.HeaderSource, hType: subjects.HeaderType,
	hTime: subjects.HeaderTime, hContentType: subjects.HeaderContentType,
	hVerifiedBy: subjects.HeaderVerifiedBy, hTraceparent: subjects.HeaderTraceparent,
}

func newEnvelope() *envelope {
	env := &envelope{msg: nats.Msg{Header: make(nats.Header, nHeaders+3)}, delivery: make([]string, 1)}
	for i, k := range envelopeHeaders {
		env.vals[i] = make([]string, 1)
		env.msg.Header[k] = env.vals[i]
	}
	env.msg.Header[subjects.HeaderSpecVersion] = []string{subjects.SpecVersion}
	env.msg.Header[subjects.HeaderMsgID] = env.vals[hID] // the event id is the stream's dedupe id
	return env
}

// setDelivery sets ce-deliveryid, or removes it when id is empty.
func (env *envelope) setDelivery(id string) {
	_, had := env.msg.Header[subjects.HeaderDeliveryID]
	switch {
	case id == "" && had:
		delete(env.msg.Header, subjects.HeaderDeliveryID)
	case id != "":
		env.delivery[0] = id
		if !had {
			env.msg.Header[subjects.HeaderDeliveryID] = env.delivery
		}
	}
}

// peek returns a request header's value without copying it: the string shares the
// request's buffer, valid until the handler returns. Verifiers read headers through it;
// the two values a verify.Result carries out (DeliveryID, Event) are cloned.
func peek(ctx *fasthttp.RequestCtx, name string) string {
	return unsafeString(ctx.Request.Header.Peek(name))
}

// unsafeString is b as a string without a copy; b must not change while it is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// contentType returns the request's Content-Type, without a copy for the usual ones.
func contentType(ctx *fasthttp.RequestCtx) string {
	switch ct := ctx.Request.Header.ContentType(); string(ct) {
	case "":
		return "application/octet-stream"
	case "application/json":
		return "application/json"
	case "application/json; charset=utf-8":
		return "application/json; charset=utf-8"
	case "application/x-www-form-urlencoded":
		return "application/x-www-form-urlencoded"
	default:
		return string(ct)
	}
}

// message builds the envelope of a verified delivery: a CloudEvent in binary mode whose body
// is the original bytes. The caller returns it to s.envelopes once published.
func (s *Server) message(ctx *fasthttp.RequestCtx, src *config.Source, res verify.Result, id string, body []byte) *envelope {
	event := res.Event
	if event == "" {
		event = "webhook"
	}
	env, _ := s.envelopes.Get().(*envelope)
	if env == nil {
		env = newEnvelope()
	}
	v := &env.vals
	v[hID][0] = id
	v[hSource][0], v[hType][0], v[hVerifiedBy][0] = s.ceSources[src.Name], event, src.Verifier.Scheme()
	v[hTime][0], v[hContentType][0] = s.clock.format(s.now()), contentType(ctx)
	v[hTraceparent][0] = traceparent(ctx.Request.Header.Peek(subjects.HeaderTraceparent))
	var delivery string
	if res.DeliveryID != "" {
		delivery = printable(res.DeliveryID)
	}
	env.setDelivery(delivery)
	env.msg.Subject = subjects.Webhook(src.Name, event)
	env.msg.Data = body
	if s.headerBlocks {
		env.block = env.appendBlock(env.block[:0])
	}
	return env
}

// appendBlock appends the header map as a NATS header block, in a fixed order.
func (env *envelope) appendBlock(b []byte) []byte {
	b = append(b, headerBlockStart...)
	b = appendHeaderField(b, subjects.HeaderSpecVersion, subjects.SpecVersion)
	b = appendHeaderField(b, subjects.HeaderMsgID, env.vals[hID][0])
	for i, k := range envelopeHeaders {
		b = appendHeaderField(b, k, env.vals[i][0])
	}
	if d, ok := env.msg.Header[subjects.HeaderDeliveryID]; ok {
		b = appendHeaderField(b, subjects.HeaderDeliveryID, d[0])
	}
	return append(b, "\r\n"...)
}

// printable replaces bytes that cannot stand in a NATS header value.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < ' ' || b[j] == 0x7f {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return s
}

// reject answers a request that is not stored, and logs one line with the reason class.
func (s *Server) reject(ctx *fasthttp.RequestCtx, source string, err error) {
	r := classify(err)
	var rl rateLimitError
	switch {
	case errors.As(err, &rl):
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(rl.wait)))
	case r.status == fasthttp.StatusServiceUnavailable:
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, retryAfter)
	}
	ctx.SetStatusCode(r.status)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"error":"` + r.reason + `"}`)
	s.srcMetrics[source].count(outcomeOf(r))
	ev := s.log.Info()
	if r.status >= 500 {
		ev = s.log.Warn()
	}
	ev.Str("source", source).Int("status", r.status).Str("reason", r.reason).
		Str("remote", ctx.RemoteIP().String()).Msg("webhook rejected")
}

// appendResult appends the JSON answer of a stored delivery.
func appendResult(b []byte, id string, seq uint64, duplicate bool) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, duplicate)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < ' ' || c == 0x7f || c == '<' || c == '>' || c == '&':
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// fasthttpLogger routes fasthttp's own error log into zerolog.
type fasthttpLogger struct{ log zerolog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) { l.log.Warn().Msgf(format, args...) }

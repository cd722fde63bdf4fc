package bench

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// Baseline modes.
const (
	// ModeNoop is a fasthttp server that reads each body and answers 200: the ceiling of
	// any fasthttp ingress on the machine.
	ModeNoop = "noop"
	// ModeNaive is a bridge written the plain way: net/http, an HMAC check, the body
	// decoded for its action, one synchronous JetStream publish per request, the answer
	// after the acknowledgement.
	ModeNaive = "naive"
)

// BaselineConfig describes a baseline server.
type BaselineConfig struct {
	Mode   string // ModeNoop or ModeNaive
	Listen string // HTTP address
	// Source and Secret: the naive bridge serves POST /webhooks/<Source> and checks GitHub
	// signatures with Secret.
	Source string
	Secret string
	// The naive bridge's JetStream: an embedded server with its store in StoreDir (fsync
	// before every ack with SyncAlways), listening on NATSListen for the checker, joined
	// in-process as hookbus joins its own; or, with NATSURL set, an existing server.
	StoreDir   string
	SyncAlways bool
	NATSListen string
	NATSURL    string
	// PublishTimeout bounds the wait for an acknowledgement; 5s when zero.
	PublishTimeout time.Duration
}

// ServeBaseline runs the baseline cfg describes until ctx is done, then shuts it down.
// ready, when non-nil, is called with the HTTP address once it listens.
func ServeBaseline(ctx context.Context, cfg BaselineConfig, log zerolog.Logger, ready func(addr string)) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("bench: listen: %w", err)
	}
	defer ln.Close()
	switch cfg.Mode {
	case ModeNoop:
		srv := &fasthttp.Server{
			Handler:      NoopHandler,
			Name:         "noop",
			ReadTimeout:  10 * time.Second,
			WriteTimeout: 10 * time.Second,
			IdleTimeout:  time.Minute,
		}
		return serveUntil(ctx, ready, ln, func() error { return srv.Serve(ln) }, srv.ShutdownWithContext)
	case ModeNaive:
		js, closeNATS, err := naiveJetStream(cfg, log)
		if err != nil {
			return err
		}
		defer closeNATS()
		srv := &http.Server{
			Handler:           NewNaive(js, cfg.Source, cfg.Secret, cfg.PublishTimeout),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
		}
		return serveUntil(ctx, ready, ln, func() error { return srv.Serve(ln) }, srv.Shutdown)
	}
	return fmt.Errorf("bench: baseline mode %q: want %s or %s", cfg.Mode, ModeNoop, ModeNaive)
}

func serveUntil(ctx context.Context, ready func(string), ln net.Listener, serve func() error, shutdown func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := shutdown(sctx)
	// fasthttp's Shutdown closes only a listener its Serve has registered: a Serve that
	// started just after would accept until ln closes.
	_ = ln.Close()
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// naiveJetStream connects the naive bridge to its JetStream and creates the WEBHOOKS
// stream as hookbus defines it.
func naiveJetStream(cfg BaselineConfig, log zerolog.Logger) (jetstream.JetStream, func(), error) {
	var opts []nats.Option
	url := cfg.NATSURL
	var ns *embedded.Server
	if url == "" {
		var err error
		ns, err = embedded.Start(embedded.Config{
			Listen: cfg.NATSListen, StoreDir: cfg.StoreDir, SyncAlways: cfg.SyncAlways, Name: "naive",
		}, log)
		if err != nil {
			return nil, nil, err
		}
		url = ns.ClientURL()
		opts = append(opts, ns.InProcess())
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if ns != nil {
			ns.Shutdown()
		}
		return nil, nil, fmt.Errorf("bench: connect to NATS: %w", err)
	}
	closeAll := func() {
		_ = nc.Drain()
		for i := 0; i < 500 && !nc.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if ns != nil {
			ns.Shutdown()
		}
	}
	js, err := jetstream.New(nc)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = js.CreateOrUpdateStream(ctx, subjects.Streams(subjects.StreamOptions{})[0])
		cancel()
	}
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("bench: naive bridge stream: %w", err)
	}
	return js, closeAll, nil
}

// NoopHandler reads the request body and answers 200 with no body.
func NoopHandler(ctx *fasthttp.RequestCtx) {
	if len(ctx.PostBody()) == 0 {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
}

// NewNaive returns the naive bridge's handler: POST /webhooks/<source>, GitHub signature
// checked over the whole body read into memory, the body decoded for its action, then one
// synchronous publish of the envelope hookbus would store, answered after the
// acknowledgement.
func NewNaive(js jetstream.JetStream, source, secret string, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	path := "/webhooks/" + source
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.Error(w, `{"error":"unknown source"}`, http.StatusNotFound)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, `{"error":"body too large"}`, http.StatusRequestEntityTooLarge)
			return
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(want)) {
			http.Error(w, `{"error":"invalid signature"}`, http.StatusUnauthorized)
			return
		}
		var payload struct {
			Action string `json:"action"`
		}
		_ = json.Unmarshal(body, &payload)
		event := r.Header.Get("X-GitHub-Event")
		if payload.Action != "" {
			event += "." + payload.Action
		}
		id := source + ":" + r.Header.Get("X-GitHub-Delivery")
		msg := nats.NewMsg(subjects.Webhook(source, event))
		msg.Data = body
		msg.Header.Set(subjects.HeaderSpecVersion, subjects.SpecVersion)
		msg.Header.Set(subjects.HeaderID, id)
		msg.Header.Set(subjects.HeaderMsgID, id)
		msg.Header.Set(subjects.HeaderSource, "/webhooks/"+source)
		msg.Header.Set(subjects.HeaderType, event)
		msg.Header.Set(subjects.HeaderTime, time.Now().UTC().Format(time.RFC3339Nano))
		msg.Header.Set(subjects.HeaderContentType, r.Header.Get("Content-Type"))
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		ack, err := js.PublishMsg(ctx, msg)
		if err != nil {
			w.Header().Set("Retry-After", "5")
			http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":%s,"seq":%s,"duplicate":%t}`, strconv.Quote(id), strconv.FormatUint(ack.Sequence, 10), ack.Duplicate)
	})
}

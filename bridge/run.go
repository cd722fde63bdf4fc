package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/bridge/horizon"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Run starts everything cfg describes — the embedded NATS server when configured, the
// streams, the ingress and the admin listener — and serves until ctx is done. Then it shuts
// down in order: stop accepting HTTP, wait for in-flight requests to get their PubAck, drain
// the NATS connection, stop the embedded server (closing its store). ready, when non-nil, is
// called once everything listens, with the bound addresses.
func Run(ctx context.Context, cfg *config.Config, log zerolog.Logger, ready func(Addrs)) error {
	for _, src := range cfg.Sources {
		if src.Disabled != "" {
			log.Warn().Str("source", src.Name).Str("reason", src.Disabled).Msg("source disabled")
		}
	}
	var ns *embedded.Server
	var login embedded.User // the bridge's own, when the embedded server has auth on
	opts := []nats.Option{
		nats.Name("hookbus-bridge"),
		// A publish while disconnected fails at once (answered 503) instead of waiting in a
		// client-side buffer that a crash would lose.
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: a disconnect we asked for (drain, close)
				log.Warn().Err(err).Msg("NATS disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("NATS reconnected")
		}),
	}
	url := cfg.NATS.URL
	if e := cfg.NATS.Embedded; e != nil {
		ecfg := embedded.Config{
			Listen:     e.Listen,
			StoreDir:   e.StoreDir,
			SyncAlways: e.Sync == "always",
		}
		if e.Sync == "batch" {
			ecfg.SyncInterval = time.Second // agent events and consumer state
		}
		if e.Auth != nil {
			users, err := logins(e.Auth)
			if err != nil {
				return err
			}
			ecfg.Users = users
			login = users[0]
			opts = append(opts, nats.UserInfo(login.Name, login.Password))
			log.Info().Str("credentials_dir", e.Auth.CredentialsDir).Int("agents", len(e.Auth.Agents)).
				Msg("NATS auth on: every agent confined to its own subjects")
		}
		var err error
		ns, err = embedded.Start(ecfg, log)
		if err != nil {
			return err
		}
		defer func() {
			ns.Shutdown()
			log.Info().Msg("embedded NATS stopped, store closed")
		}()
		url = ns.ClientURL()
		opts = append(opts, ns.InProcess())
		log.Info().Str("url", url).Str("store_dir", e.StoreDir).Str("sync", e.Sync).Msg("embedded NATS started")
	} else {
		if cfg.NATS.Creds != "" {
			opts = append(opts, nats.UserCredentials(cfg.NATS.Creds))
		}
		if t := cfg.NATS.TLS; t != nil {
			if t.CAFile != "" {
				opts = append(opts, nats.RootCAs(t.CAFile))
			}
			if t.CertFile != "" {
				opts = append(opts, nats.ClientCert(t.CertFile, t.KeyFile))
			}
		}
		// An existing cluster may be unreachable at start: keep trying, answering 503.
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("bridge: connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("bridge: jetstream: %w", err)
	}
	so := cfg.StreamOptions()
	var hz *StreamHorizon
	for {
		err := EnsureStreams(ctx, js, so)
		if err == nil && cfg.MaxDedupeHorizon() > 0 {
			hz, err = OpenHorizon(ctx, js, horizonOptions(cfg), log)
			if errors.Is(err, horizon.ErrLocked) {
				return err // another bridge has the directory: waiting will not help
			}
		}
		if err == nil {
			break
		}
		if ns != nil {
			return err
		}
		// An existing cluster may be down or without quorum at start: wait for it.
		log.Warn().Err(err).Msg("streams not ready; retrying in 2s")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	metrics := NewMetrics()
	metrics.Registry.MustRegister(newAgentCollector(js))
	opts2 := []Option{WithMetrics(metrics)}
	if e := cfg.NATS.Embedded; e != nil && e.Sync == "batch" {
		syncer, err := embedded.NewStreamSyncer(e.StoreDir, subjects.StreamWebhooks)
		if err != nil {
			return err
		}
		defer syncer.Close()
		opts2 = append(opts2, WithGroupSync(syncer.Sync))
	}
	if hz != nil {
		defer hz.Close()
		opts2 = append(opts2, WithHorizon(hz))
	}
	// With the server embedded, requests publish over a connection of their own (see
	// NewInProcessPublisher); the nats.go connection serves everything else.
	var pub *StreamPublisher
	if ns != nil {
		pub, err = NewInProcessPublisher(ns.InProcessConn, login.Name, login.Password)
	} else {
		pub, err = NewStreamPublisher(nc)
	}
	if err != nil {
		return err
	}
	defer pub.Close()
	srv, err := New(cfg, pub, log, opts2...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("bridge: http.listen: %w", err)
	}
	addrs := Addrs{HTTP: ln.Addr().String(), NATS: url}
	var admin *Admin
	if cfg.Admin.Listen != "" {
		admin, err = NewAdmin(cfg.Admin.Listen, nc, js, metrics, log)
		if err != nil {
			ln.Close()
			return err
		}
		addrs.Admin = admin.Addr()
		if hz != nil {
			admin.ReadyCheck(hz.Err)
		}
		go admin.Serve()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info().Str("http", addrs.HTTP).Str("admin", addrs.Admin).Int("sources", len(cfg.Sources)).Msg("hookbus listening")
	if ready != nil {
		ready(addrs)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		if admin != nil {
			admin.Close()
		}
		return fmt.Errorf("bridge: http server: %w", err)
	}
	log.Info().Msg("shutting down: no new requests; waiting for in-flight ones")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout(cfg))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error().Err(err).Msg("in-flight requests did not finish in time")
	}
	<-errc
	if admin != nil {
		admin.Close()
	}
	if hz != nil {
		if err := hz.Close(); err != nil {
			log.Warn().Err(err).Msg("dedupe index close")
		}
	}
	if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		log.Warn().Err(err).Msg("NATS drain")
	}
	for nc.Status() != nats.CLOSED && sctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// horizonOptions are the dedupe index settings of cfg: the index keeps the longest
// horizon of any source (at least a minute); on an existing NATS it follows the stream for
// other bridges' events and refuses once its tail stalls for half the duplicate window
// (at most 30s).
func horizonOptions(cfg *config.Config) HorizonOptions {
	return HorizonOptions{
		Dir:     cfg.DedupeDir(),
		Follow:  cfg.NATS.Embedded == nil, // on a cluster, other bridges store events too
		Horizon: max(cfg.MaxDedupeHorizon(), time.Minute),
		MaxLag:  min(max(cfg.StreamOptions().WebhookWindow/2, 500*time.Millisecond), 30*time.Second),
	}
}

func shutdownTimeout(cfg *config.Config) time.Duration {
	if cfg.HTTP.ShutdownTimeout > 0 {
		return cfg.HTTP.ShutdownTimeout
	}
	return 30 * time.Second
}

// Addrs are the addresses Run listens on.
type Addrs struct {
	HTTP  string // ingress
	Admin string // health endpoints; "" when disabled
	NATS  string // URL agents connect to
}

// EnsureStreams creates the hookbus streams and KV buckets, or updates them to the given
// options when they exist (agents confined by permissions cannot create them). It returns
// the first error, naming the stream or bucket.
//
// It creates first and updates only a stream that exists with another configuration:
// creating an existing stream with the same configuration succeeds, and several bridges
// starting at once on a fresh cluster do not race an update against a creation in flight
// (which JetStream leaves unanswered until the request times out).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o subjects.StreamOptions) error {
	for _, sc := range subjects.Streams(o) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.CreateStream(cctx, sc)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			_, err = js.UpdateStream(cctx, sc)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("bridge: stream %s: %w", sc.Name, err)
		}
	}
	for _, kc := range []jetstream.KeyValueConfig{subjects.DoneBucket(o, 0), subjects.TasksBucket(o)} {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.CreateKeyValue(cctx, kc)
		if errors.Is(err, jetstream.ErrBucketExists) {
			_, err = js.UpdateKeyValue(cctx, kc)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("bridge: bucket %s: %w", kc.Bucket, err)
		}
	}
	return nil
}

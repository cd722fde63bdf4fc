package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/config"
	"github.com/rs/zerolog"
)

// Profiles names the profiles ServeProfiled writes; an empty name skips that profile.
type Profiles struct {
	CPU   string // CPU profile of the whole run
	Block string // where goroutines waited (channel, select, sync, syscalls)
	Mutex string // where goroutines contended for locks
	Heap  string // in-use memory and allocations, written when the stop is asked for
	// BlockRate is runtime.SetBlockProfileRate's argument (nanoseconds); 10000 when zero.
	BlockRate int
	// MutexFraction is runtime.SetMutexProfileFraction's argument; 10 when zero.
	MutexFraction int
}

// ServeProfiled runs the bridge exactly as "hookbus serve --config path" does (bridge.Run
// on the loaded config) in this process, with the profiles switched on, until ctx is done;
// then it writes the profiles. ready, when non-nil, is called with the addresses.
func ServeProfiled(ctx context.Context, path string, p Profiles, log zerolog.Logger, ready func(bridge.Addrs)) (err error) {
	cfg, err := config.Load(path, nil)
	if err != nil {
		return err
	}
	if p.Block != "" {
		if p.BlockRate <= 0 {
			p.BlockRate = 10000
		}
		// The embedded NATS server sets the block profile rate as it starts (to its own
		// option, 0), so the rate is set once everything listens.
		inner := ready
		ready = func(a bridge.Addrs) {
			runtime.SetBlockProfileRate(p.BlockRate)
			if inner != nil {
				inner(a)
			}
		}
		defer runtime.SetBlockProfileRate(0)
	}
	if p.Mutex != "" {
		if p.MutexFraction <= 0 {
			p.MutexFraction = 10
		}
		runtime.SetMutexProfileFraction(p.MutexFraction)
		defer runtime.SetMutexProfileFraction(0)
	}
	if p.CPU != "" {
		f, err := os.Create(p.CPU)
		if err != nil {
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			err = errors.Join(err, f.Close())
		}()
	}
	// The heap profile is written when the stop is asked for, before the shutdown frees
	// the server's state, so that its in-use figures show what a loaded bridge holds.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	heapErr := make(chan error, 1)
	go func() {
		select {
		case <-ctx.Done():
		case <-runCtx.Done():
		}
		var err error
		if p.Heap != "" {
			runtime.GC()
			err = writeProfile("heap", p.Heap)
		}
		heapErr <- err
		stop()
	}()
	bridge.LimitMemory(runCtx, cfg.MemoryLimit, log)
	runErr := bridge.Run(runCtx, cfg, log, ready)
	stop()
	runErr = errors.Join(runErr, <-heapErr)
	for _, w := range []struct{ name, file string }{{"block", p.Block}, {"mutex", p.Mutex}} {
		if w.file != "" {
			runErr = errors.Join(runErr, writeProfile(w.name, w.file))
		}
	}
	return runErr
}

func writeProfile(name, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("bench: %s profile: %w", name, err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("bench: %s profile: %w", name, err)
	}
	return f.Close()
}

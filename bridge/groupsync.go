package bridge

import "sync"

// groupSync is group commit: every caller of wait gets a sync that started after its call,
// and one sync serves everyone waiting when it starts. Under load each fsync covers the
// requests acknowledged during the previous one.
type groupSync struct {
	sync func() error

	mu      sync.Mutex
	cond    sync.Cond
	started uint64 // syncs begun
	done    uint64 // syncs finished
	want    uint64 // the sync the latest waiter needs
	running bool
	err     error // of sync number done
}

func newGroupSync(fn func() error) *groupSync {
	g := &groupSync{sync: fn}
	g.cond.L = &g.mu
	return g
}

// wait returns once a sync that began after the call has finished, with its error.
func (g *groupSync) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	need := g.started + 1
	g.want = max(g.want, need)
	if !g.running {
		g.running = true
		go g.loop()
	}
	for g.done < need {
		g.cond.Wait()
	}
	return g.err
}

func (g *groupSync) loop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.want > g.done {
		g.started++
		n := g.started
		g.mu.Unlock()
		err := g.sync()
		g.mu.Lock()
		g.done, g.err = n, err
		g.cond.Broadcast()
	}
	g.running = false
}

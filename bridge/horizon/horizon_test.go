package horizon

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).Unix())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(c.t.Load(), 0) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d / time.Second)) }

func open(t *testing.T, dir string, c *clock, o Options) *Index {
	t.Helper()
	o.Now = c.now
	if o.Horizon == 0 {
		o.Horizon = 72 * time.Hour
	}
	ix, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func entry(i int, at time.Time) Entry {
	return Entry{Key: KeyOf("github:" + strconv.Itoa(i)), Seq: uint64(i) + 1, Time: at}
}

func mustFind(t *testing.T, ix *Index, e Entry) {
	t.Helper()
	got, ok, err := ix.Lookup(e.Key)
	if err != nil || !ok || got.Seq != e.Seq || !got.Time.Equal(e.Time.Truncate(time.Second)) {
		t.Fatalf("lookup of seq %d: %+v %v %v", e.Seq, got, ok, err)
	}
}

func mustMiss(t *testing.T, ix *Index, k Key) {
	t.Helper()
	if got, ok, err := ix.Lookup(k); err != nil || ok {
		t.Fatalf("lookup found %+v, %v, %v; want nothing", got, ok, err)
	}
}

func TestAddLookupReopen(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	ix := open(t, dir, c, Options{InitialSlots: 8})
	var es []Entry
	for i := range 5000 {
		es = append(es, entry(i, c.now()))
	}
	if err := ix.Add(es...); err != nil {
		t.Fatal(err)
	}
	at := c.now()
	ix.SetCheckpoint(Checkpoint{Seq: 5000, Epoch: 7, Time: at})
	for _, e := range es {
		mustFind(t, ix, e)
	}
	for i := 5000; i < 6000; i++ {
		mustMiss(t, ix, entry(i, c.now()).Key)
	}
	st := ix.Stats()
	if st.Entries != 5000 || st.Tables < 2 {
		t.Fatalf("stats %+v: want 5000 entries over several levels", st)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = open(t, dir, c, Options{InitialSlots: 8})
	if got := ix.Checkpoint(); got.Seq != 5000 || got.Epoch != 7 || !got.Time.Equal(at) {
		t.Fatalf("checkpoint %+v after reopen", got)
	}
	if got := ix.Stats(); got != st {
		t.Fatalf("stats %+v after reopen, %+v before", got, st)
	}
	for _, e := range es {
		mustFind(t, ix, e)
	}
}

func TestAddIsIdempotent(t *testing.T) {
	c := newClock()
	ix := open(t, t.TempDir(), c, Options{InitialSlots: 8})
	e := entry(1, c.now())
	for range 3 {
		again := e
		again.Seq += 100 // a re-read of the stream never changes the first sequence
		if err := ix.Add(e, again); err != nil {
			t.Fatal(err)
		}
	}
	mustFind(t, ix, e)
	if n := ix.Stats().Entries; n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
}

func TestHorizonKeepsThenDrops(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	const h = 72 * time.Hour
	ix := open(t, dir, c, Options{Horizon: h})
	first := entry(1, c.now())
	if err := ix.Add(first); err != nil {
		t.Fatal(err)
	}
	// Kept for the whole horizon, across generations.
	for range 6 {
		c.advance(h/6 - time.Second)
		mustFind(t, ix, first)
		if err := ix.Add(entry(int(c.t.Load()), c.now())); err != nil {
			t.Fatal(err)
		}
	}
	c.advance(7 * time.Second)
	mustMiss(t, ix, first.Key)
	// An entry already older than the horizon is not added.
	old := entry(2, c.now().Add(-h-time.Minute))
	if err := ix.Add(old); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, ix, old.Key)
	// Files go once everything in them is past the horizon: at most three generations.
	c.advance(h)
	if err := ix.Add(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if len(names) > 1 {
		t.Fatalf("%d table files left after the horizon: %v", len(names), names)
	}
}

func TestNewerEntryWins(t *testing.T) {
	// The same id stored again after one source's shorter horizon: the lookup returns the
	// newer copy.
	c := newClock()
	ix := open(t, t.TempDir(), c, Options{Horizon: 4 * time.Hour})
	old := entry(1, c.now())
	if err := ix.Add(old); err != nil {
		t.Fatal(err)
	}
	c.advance(3 * time.Hour)
	newer := old
	newer.Seq, newer.Time = 99, c.now()
	if err := ix.Add(newer); err != nil {
		t.Fatal(err)
	}
	mustFind(t, ix, newer)
}

func TestCheckpointOnlyAfterSync(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	ix := open(t, dir, c, Options{})
	if err := ix.Add(entry(1, c.now())); err != nil {
		t.Fatal(err)
	}
	ix.SetCheckpoint(Checkpoint{Seq: 1})
	if err := ix.Sync(); err != nil {
		t.Fatal(err)
	}
	late := entry(2, c.now())
	if err := ix.Add(late); err != nil {
		t.Fatal(err)
	}
	ix.SetCheckpoint(Checkpoint{Seq: 2})
	// A process killed here: its writes are in the page cache, its checkpoint is the
	// synced one, so whoever reopens reads the stream again from seq 2.
	ix.mu.Lock()
	ix.closeTables() // what the kernel does for a killed process: no sync
	ix.closed = true
	ix.mu.Unlock()
	again, err := Open(dir, Options{Horizon: 72 * time.Hour, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.Checkpoint(); got.Seq != 1 {
		t.Fatalf("checkpoint %d, want the synced 1", got.Seq)
	}
	mustFind(t, again, late)
}

func TestCorruptFiles(t *testing.T) {
	c := newClock()
	for name, mangle := range map[string]func(dir string) error{
		"table header": func(dir string) error {
			names, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
			return os.WriteFile(names[0], []byte("not an index"), 0o640)
		},
		"table renamed": func(dir string) error {
			names, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
			return os.Rename(names[0], filepath.Join(dir, "1-2-3"+suffix))
		},
		"checkpoint": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, ckptName), []byte("x"), 0o640)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ix := open(t, dir, c, Options{})
			if err := ix.Add(entry(1, c.now())); err != nil {
				t.Fatal(err)
			}
			ix.SetCheckpoint(Checkpoint{Seq: 1})
			ix.Close()
			if err := mangle(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir, Options{Horizon: time.Hour, Now: c.now}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{}, {Horizon: time.Second}, {Horizon: time.Hour, InitialSlots: 100}, {Horizon: time.Hour, InitialSlots: 4}} {
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Errorf("Open with %+v: no error", o)
		}
	}
}

func TestClosed(t *testing.T) {
	c := newClock()
	ix := open(t, t.TempDir(), c, Options{})
	ix.Close()
	if _, _, err := ix.Lookup(Key{1}); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("lookup after close: %v", err)
	}
	if err := ix.Add(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("add after close: %v", err)
	}
}

// TestAgainstModel runs random adds, lookups, clock steps and reopens against a map.
func TestAgainstModel(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	const h = 10 * time.Hour
	o := Options{Horizon: h, InitialSlots: 8, Now: c.now}
	ix, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ix.Close() }()
	model := map[Key]map[int64]Entry{} // key → generation → entry
	r := rand.New(rand.NewPCG(1, 2))
	seq := uint64(0)
	for step := range 4000 {
		switch op := r.IntN(100); {
		case op < 50:
			var batch []Entry
			for range r.IntN(20) {
				seq++
				e := Entry{Key: KeyOf(strconv.Itoa(r.IntN(3000))), Seq: seq, Time: c.now().Add(-time.Duration(r.IntN(3600)) * time.Second)}
				batch = append(batch, e)
				gen := e.Time.Unix() / int64(h/2/time.Second)
				if model[e.Key] == nil {
					model[e.Key] = map[int64]Entry{}
				}
				if _, ok := model[e.Key][gen]; !ok { // the first of a generation stays
					model[e.Key][gen] = e
				}
			}
			if err := ix.Add(batch...); err != nil {
				t.Fatal(err)
			}
		case op < 90:
			k := KeyOf(strconv.Itoa(r.IntN(3000)))
			got, ok, err := ix.Lookup(k)
			if err != nil {
				t.Fatal(err)
			}
			var want Entry
			wok := false
			newest := int64(-1)
			for gen, e := range model[k] { // the newest generation answers
				if gen > newest {
					newest, want = gen, e
				}
			}
			wok = newest >= 0 && !want.Time.Before(c.now().Add(-h))
			if ok != wok || (ok && got.Seq != want.Seq) {
				t.Fatalf("step %d: lookup %+v %v, model %+v %v", step, got, ok, want, wok)
			}
		case op < 97:
			c.advance(time.Duration(r.IntN(3600)) * time.Second)
		default:
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			if ix, err = Open(dir, o); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestConcurrentLookupsAndAdds(t *testing.T) {
	c := newClock()
	ix := open(t, t.TempDir(), c, Options{InitialSlots: 8})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := ix.Lookup(KeyOf(strconv.Itoa(i % 5000))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 50 {
		var batch []Entry
		for j := range 100 {
			batch = append(batch, entry(i*100+j, c.now()))
		}
		if err := ix.Add(batch...); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for i := range 5000 {
		mustFind(t, ix, entry(i, c.now()))
	}
}

func BenchmarkLookup(b *testing.B) {
	c := newClock()
	ix, err := Open(b.TempDir(), Options{Horizon: 72 * time.Hour, Now: c.now})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	const n = 200_000
	batch := make([]Entry, 0, 1000)
	for i := range n {
		batch = append(batch, entry(i, c.now()))
		if len(batch) == cap(batch) {
			if err := ix.Add(batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	present := KeyOf("github:" + strconv.Itoa(n/2))
	absent := KeyOf("github:absent")
	b.Run("absent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, _ := ix.Lookup(absent); ok {
				b.Fatal("found")
			}
		}
	})
	b.Run("present", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, _ := ix.Lookup(present); !ok {
				b.Fatal("missing")
			}
		}
	})
}

func BenchmarkAdd(b *testing.B) {
	c := newClock()
	ix, err := Open(b.TempDir(), Options{Horizon: 72 * time.Hour, Now: c.now})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	batch := make([]Entry, 64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for j := range batch {
			batch[j] = entry(i, c.now())
			i++
		}
		if err := ix.Add(batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/entry")
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	ix := open(t, dir, c, Options{})
	if _, err := Open(dir, Options{Horizon: time.Hour, Now: c.now}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	ix.Close()
	again := open(t, dir, c, Options{})
	again.Close()
}

func TestAddNew(t *testing.T) {
	c := newClock()
	ix := open(t, t.TempDir(), c, Options{InitialSlots: 8})
	var es []Entry
	for i := range 2000 {
		e := entry(i, c.now())
		es = append(es, e)
		if err := ix.AddNew(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range es {
		mustFind(t, ix, e)
	}
	mustMiss(t, ix, KeyOf("github:absent"))
	if err := ix.AddNew(entry(1, c.now().Add(-73*time.Hour))); err != nil { // past the horizon: skipped
		t.Fatal(err)
	}
}

// TestCountLostInCrash: counts are durable only at Sync; a table whose count a crash set
// back is filled past it without error, the next level taking over.
func TestCountLostInCrash(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	ix := open(t, dir, c, Options{InitialSlots: 64})
	var es []Entry
	for i := range 32 { // half of the first table: its count is 32, never synced
		es = append(es, entry(i, c.now()))
	}
	if err := ix.Add(es...); err != nil {
		t.Fatal(err)
	}
	ix.mu.Lock()
	ix.closeTables() // killed: no Sync
	ix.closed = true
	ix.mu.Unlock()
	ix = open(t, dir, c, Options{InitialSlots: 64})
	for i := 32; i < 200; i++ {
		e := entry(i, c.now())
		es = append(es, e)
		if err := ix.AddNew(e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	for _, e := range es {
		mustFind(t, ix, e)
	}
}

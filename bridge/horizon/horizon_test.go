package horizon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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

// TestCheckpointOnlyAfterSync: a process killed after a Sync leaves the checkpoint of that
// Sync, whether what it added since was written to the page cache or still buffered, so
// that whoever reopens reads the stream again from there.
func TestCheckpointOnlyAfterSync(t *testing.T) {
	for _, written := range []bool{true, false} {
		dir := t.TempDir()
		c := newClock()
		ix := open(t, dir, c, Options{})
		early := entry(1, c.now())
		if err := ix.Add(early); err != nil {
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
		kill(t, ix, written)
		again := open(t, dir, c, Options{})
		if got := again.Checkpoint(); got.Seq != 1 {
			t.Fatalf("written %v: checkpoint %d, want the synced 1", written, got.Seq)
		}
		mustFind(t, again, early)
		if written {
			mustFind(t, again, late)
			continue
		}
		mustMiss(t, again, late.Key)
		if err := again.Add(late); err != nil { // read again from the stream
			t.Fatal(err)
		}
		mustFind(t, again, late)
	}
}

// kill does to ix what killing its process does: no Sync, no Close, the files closed by
// the kernel. With written, its buffered entries were written just before (they are in
// the page cache); without, they are lost.
func kill(t *testing.T, ix *Index, written bool) {
	t.Helper()
	ix.stopFlusher()
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if written {
		if err := ix.flush(false); err != nil {
			t.Fatal(err)
		}
	}
	ix.closeTables()
	ix.closed = true
}

// writeBuffers writes ix's buffered entries to its files, as a full buffer does.
func writeBuffers(t *testing.T, ix *Index) {
	t.Helper()
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if err := ix.flush(true); err != nil {
		t.Fatal(err)
	}
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
	for _, o := range []Options{{}, {Horizon: time.Second}, {Horizon: time.Hour, InitialSlots: 100}, {Horizon: time.Hour, InitialSlots: 4}, {Horizon: time.Hour, WriteBuffer: bufMax + 1}} {
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
	o := Options{Horizon: h, InitialSlots: 8, Now: c.now, WriteBuffer: 5}
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

// addNew adds the entries from to from+n-1, stored at at, with one AddNew each.
func addNew(t *testing.T, ix *Index, from, n int, at time.Time) []Entry {
	t.Helper()
	es := make([]Entry, 0, n)
	for i := from; i < from+n; i++ {
		e := entry(i, at)
		if err := ix.AddNew(e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		es = append(es, e)
	}
	return es
}

func TestAddNew(t *testing.T) {
	c := newClock()
	ix := open(t, t.TempDir(), c, Options{InitialSlots: 8})
	es := addNew(t, ix, 0, 2000, c.now())
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
	kill(t, ix, true)
	ix = open(t, dir, c, Options{InitialSlots: 64})
	es = append(es, addNew(t, ix, 32, 168, c.now())...)
	for _, e := range es {
		mustFind(t, ix, e)
	}
}

// countReads counts the reads of table files until the test ends.
func countReads(t testing.TB) *atomic.Int64 {
	n := new(atomic.Int64)
	read := readAt
	readAt = func(f *os.File, b []byte, off int64) (int, error) {
		n.Add(1)
		return read(f, b, off)
	}
	t.Cleanup(func() { readAt = read })
	return n
}

// checkTags fails unless every tagged table's tags are those of its slots: in its buffer,
// or else in its file.
func checkTags(t *testing.T, ix *Index) {
	t.Helper()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, tb := range ix.tables {
		if tb.tags == nil {
			continue
		}
		b, err := os.ReadFile(tb.path)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(tb.tags)) != tb.mask+1 {
			t.Fatalf("%s: %d tags for %d slots", tb.path, len(tb.tags), tb.mask+1)
		}
		for i, tag := range tb.tags {
			s := b[headerSize+i*slotSize:]
			if p, ok := tb.buffered(uint64(i)); ok {
				if Key(s[:16]) != (Key{}) && string(s[:slotSize]) != string(p[:]) {
					t.Fatalf("%s: slot %d: buffered, and something else written there", tb.path, i)
				}
				s = p[:]
			}
			if want := tagOf(Key(s[:16])); tag != want {
				t.Fatalf("%s: slot %d: tag %d, file and buffer say %d", tb.path, i, tag, want)
			}
		}
	}
}

// tagged lists which of ix's tables, newest first, have tags, and their sizes.
func tagged(ix *Index) (tags []bool, slots []int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, tb := range ix.tables {
		tags = append(tags, tb.tags != nil)
		slots = append(slots, int(tb.mask+1))
	}
	return tags, slots
}

// sameTables fails unless the directories hold the same table files, byte for byte.
func sameTables(t *testing.T, dirs ...string) {
	t.Helper()
	read := func(dir string) map[string]string {
		names, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Base(name)] = string(b)
		}
		return files
	}
	want := read(dirs[0])
	for _, dir := range dirs[1:] {
		got := read(dir)
		if len(got) != len(want) {
			t.Fatalf("%d tables in %s, %d in %s", len(got), dir, len(want), dirs[0])
		}
		for name, b := range want {
			if got[name] != b {
				t.Fatalf("table %s differs between %s and %s", name, dirs[0], dir)
			}
		}
	}
}

// TestTagsAgainstModel runs the same random adds, lookups, clock steps, reopens and
// crashes against an index with tags, one without and one whose budget tags only some
// tables: all three answer alike, as the map model says, and write the same files.
func TestTagsAgainstModel(t *testing.T) {
	c := newClock()
	const h = 10 * time.Hour
	budgets := []int{0, -1, 600}
	buffers := []int{3, 0, 0} // the first writes its buffers often, from its goroutine
	dirs := make([]string, len(budgets))
	ixs := make([]*Index, len(budgets))
	reopen := func(i int) {
		var err error
		if ixs[i], err = Open(dirs[i], Options{Horizon: h, InitialSlots: 8, Now: c.now, TagBudget: budgets[i], WriteBuffer: buffers[i]}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range budgets {
		dirs[i] = t.TempDir()
		reopen(i)
	}
	defer func() {
		for _, ix := range ixs {
			ix.Close()
		}
	}()
	model := map[Key]map[int64]Entry{} // key → generation → entry
	unmodeled := map[Key]bool{}        // added with AddNew when already there
	put := func(e Entry) {
		gen := e.Time.Unix() / int64(h/2/time.Second)
		if model[e.Key] == nil {
			model[e.Key] = map[int64]Entry{}
		}
		if _, ok := model[e.Key][gen]; !ok {
			model[e.Key][gen] = e
		}
	}
	var fresh []Key // added with AddNew as new keys
	r := rand.New(rand.NewPCG(3, 4))
	seq := uint64(0)
	mixed := false // the small budget left some tables with tags and some without
	check := func() {
		for _, ix := range ixs {
			checkTags(t, ix) // before and after the buffers are written
			writeBuffers(t, ix)
		}
		sameTables(t, dirs...)
		st := make([]Stats, len(ixs))
		for i, ix := range ixs {
			checkTags(t, ix)
			st[i] = ix.Stats()
		}
		for i := range st {
			if st[i].Entries != st[0].Entries || st[i].Tables != st[0].Tables || st[i].Bytes != st[0].Bytes {
				t.Fatalf("stats differ: %+v", st)
			}
		}
		if st[1].TagBytes != 0 || st[2].TagBytes > int64(budgets[2]) || st[0].TagBytes != st[0].Bytes/slotSize-int64(st[0].Tables)*headerSize/slotSize {
			t.Fatalf("tag bytes: %+v", st)
		}
		tags, _ := tagged(ixs[2])
		mixed = mixed || (slices.Contains(tags, true) && slices.Contains(tags, false))
	}
	for step := range 5000 {
		switch op := r.IntN(100); {
		case op < 35:
			var batch []Entry
			for range r.IntN(20) {
				seq++
				e := Entry{Key: KeyOf(strconv.Itoa(r.IntN(3000))), Seq: seq, Time: c.now().Add(-time.Duration(r.IntN(3*3600)) * time.Second)}
				batch = append(batch, e)
				put(e)
			}
			for _, ix := range ixs {
				if err := ix.Add(batch...); err != nil {
					t.Fatal(err)
				}
			}
		case op < 45:
			seq++
			e := Entry{Seq: seq, Time: c.now().Add(-time.Duration(r.IntN(600)) * time.Second)}
			if r.IntN(5) == 0 {
				e.Key = KeyOf(strconv.Itoa(r.IntN(3000)))
				unmodeled[e.Key] = true
			} else {
				e.Key = KeyOf("new:" + strconv.FormatUint(seq, 10))
				fresh = append(fresh, e.Key)
				put(e)
			}
			for _, ix := range ixs {
				if err := ix.AddNew(e); err != nil {
					t.Fatal(err)
				}
			}
		case op < 85:
			var k Key
			switch n := r.IntN(10); {
			case n < 6:
				k = KeyOf(strconv.Itoa(r.IntN(3000)))
			case n < 8 && len(fresh) > 0:
				k = fresh[r.IntN(len(fresh))]
			default:
				k = KeyOf("absent:" + strconv.Itoa(r.IntN(1000)))
			}
			got, ok, err := ixs[0].Lookup(k)
			if err != nil {
				t.Fatal(err)
			}
			for i, ix := range ixs[1:] {
				other, ook, err := ix.Lookup(k)
				if err != nil {
					t.Fatal(err)
				}
				if ook != ok || other.Key != got.Key || other.Seq != got.Seq || !other.Time.Equal(got.Time) {
					t.Fatalf("step %d: budget %d: lookup %+v %v, with tags %+v %v", step, budgets[i+1], other, ook, got, ok)
				}
			}
			if unmodeled[k] {
				continue
			}
			var want Entry
			newest := int64(-1)
			for gen, e := range model[k] { // the newest generation answers
				if gen > newest {
					newest, want = gen, e
				}
			}
			wok := newest >= 0 && !want.Time.Before(c.now().Add(-h))
			if ok != wok || (ok && got.Seq != want.Seq) {
				t.Fatalf("step %d: lookup %+v %v, model %+v %v", step, got, ok, want, wok)
			}
		case op < 93:
			c.advance(time.Duration(r.IntN(3600)) * time.Second)
		case op < 96:
			check()
			for i, ix := range ixs {
				if err := ix.Close(); err != nil {
					t.Fatal(err)
				}
				reopen(i)
			}
		case op < 98: // killed: no Sync, the writes are in the page cache
			for i, ix := range ixs {
				kill(t, ix, true)
				reopen(i)
			}
		default:
			check()
		}
	}
	check()
	if !mixed {
		t.Fatal("the small budget never left a table without tags beside a tagged one")
	}
}

// TestTagsAvoidReads: with tags, an absent key is looked up and a new one's free slot
// found without reading the table; without, each takes a read.
func TestTagsAvoidReads(t *testing.T) {
	reads := countReads(t)
	c := newClock()
	near := Key{0: 3, 8: 7, 15: 1}   // home slot 3
	absent := Key{0: 3, 8: 8, 15: 2} // home slot 3, another tag
	fresh := Key{0: 5, 8: 9, 15: 3}
	for _, budget := range []int{0, -1} {
		ix := open(t, t.TempDir(), c, Options{InitialSlots: 8, TagBudget: budget})
		if err := ix.Add(Entry{Key: near, Seq: 1, Time: c.now()}); err != nil {
			t.Fatal(err)
		}
		reads.Store(0)
		mustMiss(t, ix, absent)
		lookup := reads.Swap(0)
		if err := ix.AddNew(Entry{Key: fresh, Seq: 2, Time: c.now()}); err != nil {
			t.Fatal(err)
		}
		add := reads.Swap(0)
		if budget < 0 && (lookup < 1 || add < 1) || budget >= 0 && (lookup != 0 || add != 0) {
			t.Fatalf("budget %d: lookup of an absent key read %d times, AddNew %d", budget, lookup, add)
		}

		// Many tables, many keys: without tags a read per table probed, with tags one
		// where a tag collides.
		var es []Entry
		for i := range 3000 {
			es = append(es, entry(i, c.now()))
		}
		if err := ix.Add(es...); err != nil {
			t.Fatal(err)
		}
		tables := ix.Stats().Tables
		reads.Store(0)
		for i := range 200 {
			mustMiss(t, ix, KeyOf("absent:"+strconv.Itoa(i)))
		}
		n := reads.Load()
		if budget < 0 && n < int64(200*tables) || budget >= 0 && n >= 200 {
			t.Fatalf("budget %d: 200 lookups of absent keys in %d tables read %d times", budget, tables, n)
		}
		reads.Store(0)
		for _, e := range es[:200] {
			mustFind(t, ix, e)
		}
		if n := reads.Load(); budget >= 0 && n != 0 {
			t.Fatalf("200 buffered keys found with %d reads", n)
		}
		if err := ix.Sync(); err != nil {
			t.Fatal(err)
		}
		reads.Store(0)
		for _, e := range es[:200] {
			mustFind(t, ix, e)
		}
		if n := reads.Load(); budget >= 0 && n < 200 {
			t.Fatalf("200 keys found with %d reads: a key is always read to be told from its tag", n)
		}
	}
}

// TestTagCollision: keys with the same home slot and the same tag are told apart by their
// slots' contents, also across the end of the table.
func TestTagCollision(t *testing.T) {
	reads := countReads(t)
	c := newClock()
	k := func(last byte) Key { return Key{0: 7, 8: 1, 15: last} } // home slot 7 of 8: wraps
	zero := Key{0: 7, 8: 0, 15: 9}                                // tag 1 as well
	var dirs []string
	for _, budget := range []int{0, -1} {
		dir := t.TempDir()
		dirs = append(dirs, dir)
		ix := open(t, dir, c, Options{InitialSlots: 8, TagBudget: budget})
		es := []Entry{{Key: k(1), Seq: 1}, {Key: k(2), Seq: 2}, {Key: zero, Seq: 3}}
		for i := range es {
			es[i].Time = c.now()
		}
		if err := ix.Add(es[0]); err != nil {
			t.Fatal(err)
		}
		if err := ix.AddNew(es[1]); err != nil {
			t.Fatal(err)
		}
		if err := ix.Add(es[2]); err != nil {
			t.Fatal(err)
		}
		reads.Store(0)
		mustMiss(t, ix, k(3))
		if n := reads.Load(); budget >= 0 && n != 0 {
			t.Fatalf("lookup past three colliding buffered slots read %d times", n)
		}
		for _, e := range es {
			mustFind(t, ix, e)
		}
		if err := ix.Sync(); err != nil {
			t.Fatal(err)
		}
		reads.Store(0)
		mustMiss(t, ix, k(3))
		if n := reads.Load(); budget >= 0 && n != 3 {
			t.Fatalf("lookup past three colliding slots read %d, want each of them", n)
		}
		for _, e := range es {
			mustFind(t, ix, e)
		}
		again := Entry{Key: k(2), Seq: 9, Time: c.now()}
		if err := ix.Add(again); err != nil { // there already: keeps seq 2
			t.Fatal(err)
		}
		mustFind(t, ix, es[1])
		if n := ix.Stats().Entries; n != 3 {
			t.Fatalf("%d entries, want 3", n)
		}
		checkTags(t, ix)
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
	}
	sameTables(t, dirs...)
}

// TestTagsRebuiltAtOpen: tags come back from the files, also from damaged slots, and
// answer as reads of the files do.
func TestTagsRebuiltAtOpen(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	ix := open(t, dir, c, Options{InitialSlots: 8})
	var es []Entry
	for i := range 3000 {
		es = append(es, entry(i, c.now()))
	}
	if err := ix.Add(es...); err != nil {
		t.Fatal(err)
	}
	st := ix.Stats()
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = open(t, dir, c, Options{InitialSlots: 8})
	if got := ix.Stats(); got != st || got.TagBytes == 0 {
		t.Fatalf("stats %+v after reopen, %+v before", got, st)
	}
	checkTags(t, ix)
	reads := countReads(t)
	for _, e := range es {
		mustFind(t, ix, e)
	}
	for i := range 100 {
		mustMiss(t, ix, KeyOf("absent:"+strconv.Itoa(i)))
	}
	if n := reads.Load(); n >= int64(len(es)+100) {
		t.Fatalf("%d reads for %d lookups after reopen: tags not rebuilt", n, len(es)+100)
	}
	ix.Close()

	// Damage slots of every table: both indexes open, and answer alike.
	r := rand.New(rand.NewPCG(5, 6))
	names, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	var keys []Key
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			s := b[headerSize+r.IntN((len(b)-headerSize)/slotSize)*slotSize:][:slotSize]
			for i := range s {
				s[i] = byte(r.IntN(3)) * byte(r.Uint32()) // zero bytes often
			}
			keys = append(keys, Key(s[:16]))
		}
		if err := os.WriteFile(name, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	tags := open(t, dir, c, Options{InitialSlots: 8})
	checkTags(t, tags)
	var got []string
	for _, k := range keys {
		e, ok, err := tags.Lookup(k)
		got = append(got, fmt.Sprint(e.Seq, e.Time.Unix(), ok, err))
	}
	tags.Close()
	none := open(t, dir, c, Options{InitialSlots: 8, TagBudget: -1})
	for i, k := range keys {
		e, ok, err := none.Lookup(k)
		if want := fmt.Sprint(e.Seq, e.Time.Unix(), ok, err); got[i] != want {
			t.Fatalf("key %x: %s with tags, %s without", k, got[i], want)
		}
	}
}

// TestTagReadErrorAtOpen: a table whose slots cannot be read fails Open as a damaged
// header does, and releases the directory.
func TestTagReadErrorAtOpen(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	ix := open(t, dir, c, Options{InitialSlots: 8})
	e := entry(1, c.now())
	if err := ix.Add(e); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	errRead := errors.New("input/output error")
	read := readAt
	readAt = func(f *os.File, b []byte, off int64) (int, error) {
		if off >= headerSize {
			return 0, errRead
		}
		return read(f, b, off)
	}
	_, err := Open(dir, Options{Horizon: 72 * time.Hour, InitialSlots: 8, Now: c.now})
	readAt = read
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, errRead) {
		t.Fatalf("open: %v, want ErrCorrupt and the read error", err)
	}
	mustFind(t, open(t, dir, c, Options{InitialSlots: 8}), e)
}

// TestTagsDroppedOnWriteError: a slot whose write failed may hold anything, so its table
// goes back to reads; a buffered write that failed stops the index, which still answers
// for what it buffered.
func TestTagsDroppedOnWriteError(t *testing.T) {
	c := newClock()
	for _, buffer := range []int{-1, 0} {
		ix := open(t, t.TempDir(), c, Options{InitialSlots: 8, WriteBuffer: buffer})
		if err := ix.AddNew(entry(1, c.now())); err != nil {
			t.Fatal(err)
		}
		ix.tables[0].f.Close() // every write fails from here
		err := ix.AddNew(entry(2, c.now()))
		if buffer == 0 { // buffered: the write fails at Sync
			if err != nil {
				t.Fatal(err)
			}
			if err = ix.Sync(); err == nil {
				t.Fatal("Sync to a closed file: no error")
			}
			if err := ix.AddNew(entry(3, c.now())); err == nil {
				t.Fatal("AddNew after a failed buffered write: no error")
			}
			if err := ix.Sync(); err == nil {
				t.Fatal("Sync after a failed buffered write: no error")
			}
		} else if err == nil {
			t.Fatal("AddNew to a closed file: no error")
		}
		if tags, _ := tagged(ix); tags[0] {
			t.Fatalf("buffer %d: tags kept after a failed write", buffer)
		}
		if n := ix.Stats().TagBytes; n != 0 {
			t.Fatalf("buffer %d: %d bytes of tags after a failed write", buffer, n)
		}
	}
}

// countWrites counts the writes of table slots until the test ends; fail, when set, makes
// them fail.
func countWrites(t testing.TB, fail *atomic.Bool) *atomic.Int64 {
	n := new(atomic.Int64)
	write := writeAt
	writeAt = func(f *os.File, b []byte, off int64) (int, error) {
		n.Add(1)
		if fail != nil && fail.Load() {
			return 0, errors.New("no space left on device")
		}
		return write(f, b, off)
	}
	t.Cleanup(func() { writeAt = write })
	return n
}

// TestBufferedWrites: entries a few slots apart are written many to a write call, by the
// index's goroutine once a buffer is full and by Sync, and are all there after a reopen;
// entries far apart are written one by one.
func TestBufferedWrites(t *testing.T) {
	writes := countWrites(t, nil)
	c := newClock()
	dir := t.TempDir()
	const buffer = 4000
	ix := open(t, dir, c, Options{InitialSlots: 1 << 14, WriteBuffer: buffer})
	var es []Entry
	add := func(n int) { es = append(es, addNew(t, ix, len(es), n, c.now())...) } // a few slots apart
	buffered := func() int {
		ix.mu.RLock()
		defer ix.mu.RUnlock()
		return ix.tables[0].pend.len() + ix.tables[0].flushing.len()
	}
	add(buffer - 1)
	if n := writes.Load(); n != 0 || buffered() != buffer-1 {
		t.Fatalf("%d writes, %d buffered, before the buffer is full", n, buffered())
	}
	add(1)
	for deadline := time.Now().Add(10 * time.Second); buffered() > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a full buffer still holds %d entries after 10s", buffered())
		}
	}
	if n := writes.Swap(0); n == 0 || n > buffer/50 { // two runs of 8192 slots: two
		t.Fatalf("a full buffer of %d written with %d calls", buffer, n)
	}
	add(2000)
	for _, e := range es {
		mustFind(t, ix, e)
	}
	checkTags(t, ix)
	if err := ix.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := buffered(); n != 0 {
		t.Fatalf("%d entries buffered after Sync", n)
	}
	if n := writes.Swap(0); n == 0 || n > 2000/50+1 { // and the count
		t.Fatalf("Sync wrote 2000 entries with %d calls", n)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = open(t, dir, c, Options{InitialSlots: 1 << 14, WriteBuffer: buffer})
	checkTags(t, ix)
	for _, e := range es {
		mustFind(t, ix, e)
	}

	// Sparse: a big table, few entries, each on its own.
	sparse := open(t, t.TempDir(), c, Options{InitialSlots: 1 << 20})
	writes.Store(0)
	addNew(t, sparse, 0, 50, c.now())
	if err := sparse.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 50 {
		t.Fatalf("50 entries far apart written with %d calls, want one each", n)
	}
}

// TestBufferFull: while its buffer cannot be written, a table buffers four times
// WriteBuffer entries and writes the rest one by one, and every entry is found.
func TestBufferFull(t *testing.T) {
	writes := countWrites(t, nil)
	c := newClock()
	const buffer = 50
	ix := open(t, t.TempDir(), c, Options{InitialSlots: 1 << 12, WriteBuffer: buffer})
	ix.flushMu.Lock() // a write of the buffers under way, stuck
	es := addNew(t, ix, 0, 300, c.now())
	ix.mu.RLock()
	held := ix.tables[0].pend.len()
	ix.mu.RUnlock()
	if held != 4*buffer || writes.Load() != int64(len(es)-held) {
		t.Fatalf("%d buffered, %d written, of %d", held, writes.Load(), len(es))
	}
	for _, e := range es {
		mustFind(t, ix, e)
	}
	checkTags(t, ix)
	ix.flushMu.Unlock()
	if err := ix.Sync(); err != nil {
		t.Fatal(err)
	}
	checkTags(t, ix)
	for _, e := range es {
		mustFind(t, ix, e)
	}
}

// TestBufferWriteError: a failed write of a full buffer, by the index's goroutine, stops
// the index: adds and Sync report it, and lookups still find what was buffered.
func TestBufferWriteError(t *testing.T) {
	fail := new(atomic.Bool)
	countWrites(t, fail)
	c := newClock()
	ix := open(t, t.TempDir(), c, Options{InitialSlots: 1 << 10, WriteBuffer: 20})
	fail.Store(true)
	var es []Entry
	var err error
	for i := 0; i < 10_000 && err == nil; i++ {
		e := entry(i, c.now())
		if err = ix.AddNew(e); err == nil {
			es = append(es, e)
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // let the goroutine write the buffer
		}
	}
	if err == nil {
		t.Fatal("adds go on after the buffer's write failed")
	}
	if err := ix.Sync(); err == nil {
		t.Fatal("Sync after a failed write: no error")
	}
	for _, e := range es {
		mustFind(t, ix, e)
	}
}

// TestTagBudget: tags go to the newest tables within the budget, at Open and as tables
// are created, and the rest work with reads.
func TestTagBudget(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	const budget = 200
	ix := open(t, dir, c, Options{InitialSlots: 8, TagBudget: budget})
	var es []Entry
	for i := range 500 {
		before, _ := tagged(ix)
		e := entry(i, c.now())
		es = append(es, e)
		if err := ix.AddNew(e); err != nil {
			t.Fatal(err)
		}
		tags, slots := tagged(ix)
		if n := ix.Stats().TagBytes; n > budget {
			t.Fatalf("%d bytes of tags, budget %d", n, budget)
		}
		if slots[0] <= budget && !tags[0] {
			t.Fatalf("newest table (%d slots) without tags: %v %v", slots[0], tags, slots)
		}
		if len(tags) > len(before) { // a new table, newest: the oldest lose their tags
			kept := 0
			for j, had := range before {
				if tags[j+1] && !had {
					t.Fatalf("an older table got tags: %v → %v", before, tags)
				}
				if tags[j+1] {
					kept = j + 1
				}
			}
			if !slices.Equal(tags[1:kept+1], before[:kept]) {
				t.Fatalf("tags dropped from a table newer than one that kept them: %v → %v %v", before, tags, slots)
			}
		}
	}
	checkTags(t, ix)
	for _, e := range es {
		mustFind(t, ix, e)
	}
	for _, b := range []int{budget, 100, 1} {
		ix.Close()
		ix = open(t, dir, c, Options{InitialSlots: 8, TagBudget: b})
		tags, slots := tagged(ix)
		left := b
		for j := range tags { // newest first, each that fits
			if want := slots[j] <= left; tags[j] != want {
				t.Fatalf("budget %d: tables %v tagged %v", b, slots, tags)
			}
			if tags[j] {
				left -= slots[j]
			}
		}
		if n := ix.Stats().TagBytes; n > int64(b) || n == 0 && b > 8 {
			t.Fatalf("budget %d: %d bytes of tags", b, n)
		}
		checkTags(t, ix)
		for _, e := range es {
			mustFind(t, ix, e)
		}
	}
}

// absentKeys are keys no benchmark index holds.
func absentKeys() []Key {
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = KeyOf("absent:" + strconv.Itoa(i))
	}
	return keys
}

// BenchmarkLookupAbsent looks up keys absent from three tables of 100,000 entries each,
// with tags and without.
func BenchmarkLookupAbsent(b *testing.B) {
	withAndWithoutTags(b, func(b *testing.B, ix *Index, c *clock) {
		batch := make([]Entry, 0, 1000)
		for i := range 300_000 {
			// 36 hours apart: one generation each.
			batch = append(batch, entry(i, c.now().Add(-time.Duration(2-i%3)*36*time.Hour)))
			if len(batch) == cap(batch) {
				if err := ix.Add(batch...); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if n := ix.Stats().Tables; n != 3 {
			b.Fatalf("%d tables, want 3", n)
		}
		keys := absentKeys()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok, _ := ix.Lookup(keys[i%len(keys)]); ok {
				b.Fatal("found")
			}
			i++
		}
	})
}

// BenchmarkAddNew adds new keys one at a time, with tags and without.
func BenchmarkAddNew(b *testing.B) {
	withAndWithoutTags(b, func(b *testing.B, ix *Index, c *clock) {
		b.ReportAllocs()
		e := Entry{Time: c.now()}
		x := uint64(0)
		for b.Loop() {
			x++
			binary.LittleEndian.PutUint64(e.Key[:8], splitmix(x))
			binary.LittleEndian.PutUint64(e.Key[8:], splitmix(^x))
			e.Seq = x
			if err := ix.AddNew(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// withAndWithoutTags runs f as two sub-benchmarks: on an empty index with slot tags and on
// one without.
func withAndWithoutTags(b *testing.B, f func(b *testing.B, ix *Index, c *clock)) {
	for _, tc := range []struct {
		name   string
		budget int
	}{{"tags", 0}, {"none", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			c := newClock()
			ix, err := Open(b.TempDir(), Options{Horizon: 72 * time.Hour, Now: c.now, TagBudget: tc.budget})
			if err != nil {
				b.Fatal(err)
			}
			defer ix.Close()
			f(b, ix, c)
		})
	}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// BenchmarkWriteCost measures, per index entry, the file writes an index could make, in
// TMPDIR's file system (TMPDIR=/dev/shm for tmpfs): one 32-byte write at a random slot of
// a 32 MiB table (what AddNew does), one 32-byte write each at the end of a log, and one
// write of 64 entries at a time to a log. It shows what a log-structured index would save
// per stored event against the table's write: the kernel's cost of a write call, not the
// bytes or their place, is what an entry costs.
func BenchmarkWriteCost(b *testing.B) {
	const tableSize = 32 << 20
	for _, tc := range []struct {
		name  string
		batch int  // entries per write
		slot  bool // at a random slot instead of the end
	}{{"slot", 1, true}, {"append", 1, false}, {"append-64", 64, false}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "t"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(tableSize); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, tc.batch*slotSize)
			var off int64
			x := uint64(0)
			for b.Loop() {
				x++
				if tc.slot {
					off = int64(splitmix(x)%(tableSize/slotSize)) * slotSize
				} else if x%uint64(tc.batch) != 0 {
					continue // this entry waits for the batch's write
				}
				if _, err := f.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
				if !tc.slot {
					off = (off + int64(len(buf))) % tableSize
				}
			}
		})
	}
}

// TestBuffer: a buffer finds every slot it holds, across growth, and no other.
func TestBuffer(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 3 {
		b := &buffer{}
		if _, ok := b.get(1); ok || b.len() != 0 {
			t.Fatal("found in an empty buffer")
		}
		model := map[uint64][slotSize]byte{}
		for len(model) < 5000 {
			slot := uint64(r.IntN(1 << 14)) // many share a home
			if round == 2 {
				slot = r.Uint64() >> 24
			}
			if _, ok := model[slot]; ok {
				continue
			}
			var s [slotSize]byte
			binary.LittleEndian.PutUint64(s[:], r.Uint64())
			model[slot] = s
			b.add(slot, s[:])
		}
		if b.len() != len(model) {
			t.Fatalf("round %d: %d entries, want %d", round, b.len(), len(model))
		}
		for slot, want := range model {
			if got, ok := b.get(slot); !ok || *got != want {
				t.Fatalf("round %d: slot %d: %v %v", round, slot, got, ok)
			}
		}
		for range 5000 {
			slot := uint64(r.IntN(1 << 15))
			if _, ok := b.get(slot); ok != (model[slot] != [slotSize]byte{}) {
				t.Fatalf("round %d: slot %d found %v", round, slot, ok)
			}
		}
	}
}

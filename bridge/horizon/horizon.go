// Package horizon is the bridge's long dedupe memory: an on-disk index from event id to
// the stream position where the event was stored, kept for at least a configured horizon
// (days), in bounded process memory.
//
// The index lives in a directory of hash tables, one set per time generation. A generation
// spans horizon/2 of stream time; an entry goes into the generation of the time it was
// stored, and a generation file is removed as a whole once every entry in it is older than
// the horizon, so entries are kept between one and one and a half horizons and nothing is
// ever deleted slot by slot. Each table is an open-addressing (linear probing) array of
// 32-byte slots read and written with pread/pwrite: its pages live in the OS page cache,
// not in the process. A table that reaches half full gets a successor twice its size in
// the same generation (no rehash, no pause); a new generation starts at the size the
// previous one ended with. A lookup probes every table, newest first.
//
// Probes mostly need no read at all: the index keeps, per table, one byte per slot in
// process memory, 0 for an empty slot and otherwise a tag taken from key bits the home
// slot does not use. A probe walks the tags and reads only the slots whose tag is the
// key's, to compare the whole key, so looking up an absent key or finding the free slot
// for a new one costs no system call unless a tag collides (about one in 255 of the
// occupied slots passed). The tags are a cache of the files, rebuilt from them at Open,
// and bounded by Options.TagBudget: tables get tags newest first while the budget lasts,
// and a new table takes over the tags of the oldest tagged ones when it is spent. A table
// without tags is probed by reading one small window of slots at a time.
//
// New entries of a table with tags are buffered in process memory and written to the
// file together, many to a system call: sorted by slot, a slot alone is written by itself,
// and nearby slots (at most runGap apart) as one run, read, patched and written back whole.
// A write call, not the bytes it moves, is what an entry costs (BenchmarkWriteCost), so
// under load, where the buffered entries of a table lie a few slots apart, an entry costs
// a fraction of a write of its own. The buffer is written when it holds
// Options.WriteBuffer entries (by a goroutine of the index, which lets lookups and adds in
// between its runs) and at every Sync; lookups see the buffered entries as if written.
//
// The index is a cache of the stream: whoever fills it records the last stream position it
// covers (Checkpoint) and, after a crash or with an empty directory, refills it from the
// stream from there. A crash loses what was added since the last Sync, buffered or in the
// page cache alike; the checkpoint on disk never claims it. Writes are idempotent.
package horizon

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Key is the 128-bit fingerprint of an event id.
type Key [16]byte

// KeyOf returns the fingerprint of id: the first 16 bytes of its SHA-256, never all zero
// (the empty slot).
func KeyOf(id string) Key {
	sum := sha256.Sum256([]byte(id))
	var k Key
	copy(k[:], sum[:16])
	if k == (Key{}) {
		k[15] = 1
	}
	return k
}

// Entry is one stored event: its fingerprint, stream sequence and store time.
type Entry struct {
	Key  Key
	Seq  uint64
	Time time.Time // second precision
}

// Options tune an Index.
type Options struct {
	// Horizon is how long an entry is kept at least. Required.
	Horizon time.Duration
	// InitialSlots is the size of the first table of a generation when there is no
	// previous one to size it by: a power of two, default 1<<20 (32 MiB, sparse on disk).
	InitialSlots int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// TagBudget bounds the memory of the slot tags, in bytes: one byte per slot of a
	// tagged table. Default 64 MiB (tags for 64 Mi slots, 2 GiB of tables); negative
	// means no tags at all. At Open the tables get tags newest first, each one that fits
	// in what is left of the budget (a larger one goes without, an older, smaller one may
	// still fit). A table created later gets tags if the budget holds them once the tags
	// of the tables older than it are dropped, oldest first, as far as needed. A table
	// without tags works as with tags, at the cost of a read per table probed.
	TagBudget int
	// WriteBuffer is how many new entries a table with tags holds in process memory
	// before they are written to its file, together (about 50 bytes each). Default 1<<16;
	// negative: every entry is written as it is added. Adds go straight to the file, one
	// write each, while a table holds four times as many, should the writes fall behind.
	WriteBuffer int
}

// Checkpoint says how far the index covers its stream.
type Checkpoint struct {
	// Seq is the last stream sequence whose entry is known to be in the index.
	Seq uint64
	// Time is when the index was complete: every event stored before it is in the index.
	Time time.Time
	// Epoch identifies the stream (its creation time, in Unix nanoseconds), so that an
	// index is not resumed against a stream that was deleted and created again.
	Epoch int64
}

var (
	// ErrCorrupt reports an index file that is not one this package wrote.
	ErrCorrupt = errors.New("horizon: corrupt index")
	// ErrLocked reports an index directory another process has open.
	ErrLocked = errors.New("horizon: index directory in use")
)

const (
	slotSize   = 32
	headerSize = 64
	window     = 8       // slots read per probe
	tagChunk   = 1 << 20 // bytes read at a time to build the tags
	tagDefault = 64 << 20
	bufDefault = 1 << 16
	bufMax     = 1 << 21 // four times it still fits a buffer's positions in posBits
	posBits    = 24      // a buffer being written is sorted as slot<<posBits | position
	// runGap is how far apart, in slots, two buffered entries may lie and still be
	// written in one run: copying up to 4 KiB of slots between them costs about what
	// another write call does.
	runGap   = 128
	runMax   = 8192 // slots in one run: 256 KiB, the longest the write lock is held for one
	magic    = "HBHRZN01"
	suffix   = ".hix"
	ckptName = "checkpoint"
)

// Index is the on-disk dedupe index. Lookups may run concurrently with each other and
// with Add.
type Index struct {
	dir     string
	horizon time.Duration
	span    int64 // seconds of stream time per generation
	initial int
	now     func() time.Time
	budget  int64 // for tags, in bytes; negative for none

	mu     sync.RWMutex
	tables []*table // newest generation first; within one, newest level first
	ckpt   Checkpoint
	dirty  bool
	closed bool
	err    error // a buffered write failed: Add, AddNew and Sync refuse
	lock   *os.File
	bufs   sync.Pool

	buffer  int           // entries a table buffers before they are written; 0 for none
	flushMu sync.Mutex    // held by whoever writes the buffers; taken before mu
	keys    []uint64      // sortKey of each entry of the buffer being written; under flushMu
	run     []byte        // a run's slots, read and written back; under flushMu
	kick    chan struct{} // a buffer is full
	stop    chan struct{}
	flusher sync.WaitGroup
	halt    sync.Once
}

// table is one hash table file: generation gen of span seconds, level within it.
type table struct {
	f       *os.File
	path    string
	span    int64
	gen     int64
	level   int
	mask    uint64 // slots - 1
	count   uint64
	counted uint64 // count as written in the header
	dirty   bool   // written since the last fsync
	// tags holds one byte per slot, the slot's tag (see tagOf) as in the file or in pend,
	// or is nil for a table probed with reads. Written only under the index's write lock.
	tags []byte
	// pend holds the entries added to slots of the table that are not written to its file
	// yet: what the file will hold there. flushing holds those being written now, pend
	// only those added since. Both are written only under the write lock.
	pend, flushing *buffer
	gone           bool // closed and removed: not to be written
}

// buffered returns the entry buffered for slot, if there is one.
func (t *table) buffered(slot uint64) (*[slotSize]byte, bool) {
	if s, ok := t.pend.get(slot); ok {
		return s, true
	}
	return t.flushing.get(slot)
}

// buffer is a table's buffered entries, in the order added, found by slot through an
// open-addressing index of their positions (about 48 bytes an entry in all).
type buffer struct {
	ents  []bufEntry
	index []int32 // a power of two long, at least twice len(ents): position+1, or 0
	shift uint8   // 64 - log2(len(index))
}

type bufEntry struct {
	slot uint64
	s    [slotSize]byte
}

func (b *buffer) len() int {
	if b == nil {
		return 0
	}
	return len(b.ents)
}

func (b *buffer) home(slot uint64) int { return int(slot * 0x9e3779b97f4a7c15 >> b.shift) }

func (b *buffer) get(slot uint64) (*[slotSize]byte, bool) {
	if b.len() == 0 {
		return nil, false
	}
	mask := len(b.index) - 1
	for i := b.home(slot); ; i = (i + 1) & mask {
		p := b.index[i]
		if p == 0 {
			return nil, false
		}
		if e := &b.ents[p-1]; e.slot == slot {
			return &e.s, true
		}
	}
}

// add buffers s for slot, which the buffer does not hold.
func (b *buffer) add(slot uint64, s []byte) {
	if 2*(len(b.ents)+1) > len(b.index) {
		n := max(1024, 2*len(b.index))
		b.index = make([]int32, n)
		b.shift = uint8(64 - bits.TrailingZeros(uint(n)))
		for i := range b.ents {
			b.place(b.ents[i].slot, int32(i+1))
		}
	}
	b.ents = append(b.ents, bufEntry{slot: slot, s: [slotSize]byte(s)})
	b.place(slot, int32(len(b.ents)))
}

func (b *buffer) place(slot uint64, p int32) {
	mask := len(b.index) - 1
	i := b.home(slot)
	for b.index[i] != 0 {
		i = (i + 1) & mask
	}
	b.index[i] = p
}

// readAt and writeAt read and write table files; tests replace them to count calls and
// to fail them.
var (
	readAt  = (*os.File).ReadAt
	writeAt = (*os.File).WriteAt
)

// end is the first second after every entry this table can hold.
func (t *table) end() int64 { return (t.gen + 1) * t.span }

// Open opens (creating if needed) the index in dir.
func Open(dir string, o Options) (*Index, error) {
	if o.Horizon < 2*time.Second {
		return nil, fmt.Errorf("horizon: horizon %s is shorter than 2s", o.Horizon)
	}
	if o.InitialSlots == 0 {
		o.InitialSlots = 1 << 20
	}
	if o.InitialSlots < window || o.InitialSlots&(o.InitialSlots-1) != 0 {
		return nil, fmt.Errorf("horizon: initial slots %d: want a power of two ≥ %d", o.InitialSlots, window)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TagBudget == 0 {
		o.TagBudget = tagDefault
	}
	if o.WriteBuffer == 0 {
		o.WriteBuffer = bufDefault
	}
	if o.WriteBuffer > bufMax {
		return nil, fmt.Errorf("horizon: write buffer %d: at most %d", o.WriteBuffer, bufMax)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("horizon: %w", err)
	}
	ix := &Index{
		dir:     dir,
		horizon: o.Horizon,
		span:    int64((o.Horizon / 2).Seconds()),
		initial: o.InitialSlots,
		now:     o.Now,
		budget:  int64(o.TagBudget),
		buffer:  max(o.WriteBuffer, 0),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	ix.bufs.New = func() any { return new([window * slotSize]byte) }
	var err error
	if ix.lock, err = lock(dir); err != nil {
		return nil, err
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		ix.closeTables()
		return nil, err
	}
	for _, name := range names {
		t, err := openTable(name)
		if err != nil {
			ix.closeTables()
			return nil, err
		}
		ix.tables = append(ix.tables, t)
	}
	ix.sortTables()
	if err := ix.readCheckpoint(); err != nil {
		ix.closeTables()
		return nil, err
	}
	if err := ix.expire(); err != nil {
		ix.closeTables()
		return nil, err
	}
	if err := ix.tagTables(); err != nil {
		ix.closeTables()
		return nil, err
	}
	if ix.buffer > 0 {
		ix.flusher.Go(ix.flushLoop)
	}
	return ix, nil
}

// Horizon is the horizon the index keeps entries for.
func (ix *Index) Horizon() time.Duration { return ix.horizon }

// Checkpoint is the last position recorded with SetCheckpoint (after Open: the last one
// synced).
func (ix *Index) Checkpoint() Checkpoint {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.ckpt
}

// Lookup returns the newest entry of k younger than the horizon, if there is one.
func (ix *Index) Lookup(k Key) (Entry, bool, error) {
	buf := ix.bufs.Get().(*[window * slotSize]byte)
	defer ix.bufs.Put(buf)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return Entry{}, false, os.ErrClosed
	}
	oldest := ix.now().Add(-ix.horizon).Unix()
	for _, t := range ix.tables {
		if t.end() <= oldest {
			continue
		}
		_, seq, at, found, err := t.find(k, buf)
		if err != nil {
			return Entry{}, false, err
		}
		if found && at >= oldest {
			return Entry{Key: k, Seq: seq, Time: time.Unix(at, 0)}, true, nil
		}
	}
	return Entry{}, false, nil
}

// SetCheckpoint records how far the index covers its stream; the next Sync makes it
// durable, after the entries added before it.
func (ix *Index) SetCheckpoint(ckpt Checkpoint) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.ckpt = ckpt
	ix.dirty = true
}

// Add records entries (already older than the horizon are skipped). An entry whose key the
// index holds in the same generation keeps its first sequence.
func (ix *Index) Add(entries ...Entry) error {
	buf := ix.bufs.Get().(*[window * slotSize]byte)
	defer ix.bufs.Put(buf)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return os.ErrClosed
	}
	if ix.err != nil {
		return ix.err
	}
	if err := ix.expire(); err != nil {
		return err
	}
	oldest := ix.now().Add(-ix.horizon).Unix()
	for _, e := range entries {
		at := e.Time.Unix()
		if at < oldest {
			continue
		}
		if err := ix.insert(e.Key, e.Seq, at, buf, true); err != nil {
			return err
		}
	}
	ix.dirty = true
	return nil
}

// AddNew records one entry known to be new to the stream (just stored): only the newest
// table of its generation is checked for its key (in its tags, or with a read), then one
// write. Were the key in an older table after all, both copies name the same event and
// the newer answers.
func (ix *Index) AddNew(e Entry) error {
	buf := ix.bufs.Get().(*[window * slotSize]byte)
	defer ix.bufs.Put(buf)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return os.ErrClosed
	}
	if ix.err != nil {
		return ix.err
	}
	at := e.Time.Unix()
	if at < ix.now().Add(-ix.horizon).Unix() {
		return nil
	}
	if err := ix.insert(e.Key, e.Seq, at, buf, false); err != nil {
		return err
	}
	ix.dirty = true
	return nil
}

// maxProbe is the longest run of slots an insert probes before it takes the table for
// full and starts the next level: it bounds lookups whatever the count says (a count is
// durable only from the last Sync, so after a crash a table may hold more than it says).
const maxProbe = 64

// insert puts one entry into its generation's newest table, unless the generation has it
// (every table of the generation is checked with all, only the newest without).
func (ix *Index) insert(k Key, seq uint64, at int64, buf *[window * slotSize]byte, all bool) error {
	gen := at / ix.span
	var top *table
	var free uint64 // k's empty slot in top
	for _, t := range ix.tables {
		if t.span != ix.span || t.gen != gen {
			continue
		}
		slot, _, _, found, err := t.find(k, buf)
		if err != nil || found {
			return err
		}
		if top == nil {
			top, free = t, slot
			if !all {
				break
			}
		}
	}
	if top == nil || top.count+1 > (top.mask+1)/2 || free > top.mask || (free-binary.LittleEndian.Uint64(k[:8]))&top.mask > maxProbe {
		slots := ix.initial
		level := 0
		if top != nil {
			slots, level = int(top.mask+1)*2, top.level+1
		} else if prev := ix.generationSize(gen - 1); prev > 0 {
			slots = max(slots, nextPow2(4*prev))
		}
		t, err := createTable(ix.dir, ix.span, gen, level, slots)
		if err != nil {
			return err
		}
		ix.tables = append(ix.tables, t)
		ix.sortTables()
		ix.tagNew(t)
		top = t
		if free, _, _, _, err = t.find(k, buf); err != nil {
			return err
		}
	}
	return ix.put(top, free, k, seq, at, buf)
}

// generationSize counts the entries of generation gen of the current span.
func (ix *Index) generationSize(gen int64) int {
	n := 0
	for _, t := range ix.tables {
		if t.span == ix.span && t.gen == gen {
			n += int(t.count)
		}
	}
	return n
}

// Sync makes every entry added so far durable, then the checkpoint: after a crash the
// checkpoint on disk never claims more than the tables hold.
func (ix *Index) Sync() error {
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.sync()
}

// sync writes the buffers, letting others in between runs, then what was buffered in the
// meantime without, and makes it all durable. flushMu and the write lock are held.
func (ix *Index) sync() error {
	if ix.closed {
		return nil
	}
	if ix.err != nil {
		return ix.err
	}
	if err := ix.flush(true); err != nil {
		return err
	}
	if err := ix.flush(false); err != nil {
		return err
	}
	if !ix.dirty {
		return nil
	}
	for _, t := range ix.tables {
		if !t.dirty {
			continue
		}
		if t.counted != t.count {
			if err := t.writeCount(); err != nil {
				return err
			}
		}
		if err := t.f.Sync(); err != nil {
			return fmt.Errorf("horizon: sync %s: %w", t.path, err)
		}
		t.dirty = false
	}
	if err := ix.writeCheckpoint(); err != nil {
		return err
	}
	ix.dirty = false
	return nil
}

// Close syncs and closes the index.
func (ix *Index) Close() error {
	ix.stopFlusher()
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	err := ix.sync()
	ix.closeTables()
	ix.closed = true
	return err
}

// Stats describe the index.
type Stats struct {
	Entries  int   // live entries (approximately: counts are exact until a crash)
	Tables   int   // table files
	Bytes    int64 // apparent size of the table files
	TagBytes int64 // process memory of the slot tags
}

// Stats reports the index's size.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var s Stats
	for _, t := range ix.tables {
		s.Entries += int(t.count)
		s.Tables++
		s.Bytes += headerSize + int64(t.mask+1)*slotSize
		s.TagBytes += int64(len(t.tags))
	}
	return s
}

// tagBytes is the memory the tables' tags take.
func (ix *Index) tagBytes() int64 {
	n := int64(0)
	for _, t := range ix.tables {
		n += int64(len(t.tags))
	}
	return n
}

// tagTables builds the tags of the tables opened, newest first, of each one that fits in
// what is left of the budget.
func (ix *Index) tagTables() error {
	left := ix.budget
	var buf []byte
	for _, t := range ix.tables {
		if int64(t.mask+1) > left {
			continue
		}
		if buf == nil {
			buf = make([]byte, tagChunk)
		}
		if err := t.buildTags(buf); err != nil {
			return err
		}
		left -= int64(len(t.tags))
	}
	return nil
}

// tagNew gives tags to t, a table just created (all slots empty), if the budget holds
// them once the tags of tables older than t are dropped, oldest first, as far as needed.
func (ix *Index) tagNew(t *table) {
	need := int64(t.mask + 1)
	left := ix.budget - ix.tagBytes()
	older := ix.tables[slices.Index(ix.tables, t)+1:]
	droppable := int64(0)
	for _, o := range older {
		droppable += int64(len(o.tags))
	}
	if need > left+droppable {
		return
	}
	for i := len(older) - 1; need > left; i-- {
		left += int64(len(older[i].tags))
		older[i].dropTags()
	}
	t.tags = allocTags(int(need)) // zero: every slot empty
}

// expire removes the tables whose every entry is older than the horizon.
func (ix *Index) expire() error {
	oldest := ix.now().Add(-ix.horizon).Unix()
	kept := ix.tables[:0]
	var err error
	for _, t := range ix.tables {
		if t.end() > oldest {
			kept = append(kept, t)
			continue
		}
		t.close()
		if e := os.Remove(t.path); e != nil && err == nil {
			err = fmt.Errorf("horizon: %w", e)
		}
	}
	clear(ix.tables[len(kept):])
	ix.tables = kept
	return err
}

func (ix *Index) sortTables() {
	slices.SortFunc(ix.tables, func(a, b *table) int {
		if c := cmp.Compare(b.end(), a.end()); c != 0 {
			return c
		}
		return b.level - a.level
	})
}

// closeTables closes the files and releases the directory.
func (ix *Index) closeTables() {
	for _, t := range ix.tables {
		t.close()
	}
	ix.tables = nil
	ix.lock.Close()
}

// close closes t's file and drops its tags and buffered entries.
func (t *table) close() {
	t.f.Close()
	t.dropTags()
	t.pend, t.flushing = nil, nil
	t.gone = true
}

func (ix *Index) readCheckpoint() error {
	b, err := os.ReadFile(filepath.Join(ix.dir, ckptName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("horizon: %w", err)
	}
	if len(b) != 32 || string(b[:8]) != magic {
		return fmt.Errorf("%w: %s", ErrCorrupt, filepath.Join(ix.dir, ckptName))
	}
	ix.ckpt = Checkpoint{
		Seq:   binary.LittleEndian.Uint64(b[8:]),
		Epoch: int64(binary.LittleEndian.Uint64(b[16:])),
		Time:  time.Unix(0, int64(binary.LittleEndian.Uint64(b[24:]))),
	}
	return nil
}

// writeCheckpoint replaces the checkpoint file atomically and durably.
func (ix *Index) writeCheckpoint() error {
	b := make([]byte, 32)
	copy(b, magic)
	binary.LittleEndian.PutUint64(b[8:], ix.ckpt.Seq)
	binary.LittleEndian.PutUint64(b[16:], uint64(ix.ckpt.Epoch))
	binary.LittleEndian.PutUint64(b[24:], uint64(ix.ckpt.Time.UnixNano()))
	tmp := filepath.Join(ix.dir, ckptName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("horizon: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(ix.dir, ckptName))
	}
	if err == nil {
		err = syncDir(ix.dir)
	}
	if err != nil {
		return fmt.Errorf("horizon: checkpoint: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// tableName is "<span>-<gen>-<level>.hix".
func tableName(span, gen int64, level int) string {
	return strconv.FormatInt(span, 10) + "-" + strconv.FormatInt(gen, 10) + "-" + strconv.Itoa(level) + suffix
}

func createTable(dir string, span, gen int64, level, slots int) (*table, error) {
	path := filepath.Join(dir, tableName(span, gen, level))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("horizon: %w", err)
	}
	t := &table{f: f, path: path, span: span, gen: gen, level: level, mask: uint64(slots - 1), dirty: true}
	h := make([]byte, headerSize)
	copy(h, magic)
	binary.LittleEndian.PutUint64(h[8:], uint64(span))
	binary.LittleEndian.PutUint64(h[16:], uint64(gen))
	binary.LittleEndian.PutUint64(h[24:], uint64(level))
	binary.LittleEndian.PutUint64(h[32:], uint64(slots))
	if _, err = f.WriteAt(h, 0); err == nil {
		err = f.Truncate(headerSize + int64(slots)*slotSize) // sparse: zero slots are empty
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("horizon: create %s: %w", path, err)
	}
	return t, nil
}

func openTable(path string) (*table, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("horizon: %w", err)
	}
	h := make([]byte, headerSize)
	if _, err := readAt(f, h, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: header: %v", ErrCorrupt, path, err)
	}
	t := &table{
		f:     f,
		path:  path,
		span:  int64(binary.LittleEndian.Uint64(h[8:])),
		gen:   int64(binary.LittleEndian.Uint64(h[16:])),
		level: int(binary.LittleEndian.Uint64(h[24:])),
		count: binary.LittleEndian.Uint64(h[40:]),
	}
	t.counted = t.count
	slots := binary.LittleEndian.Uint64(h[32:])
	st, err := f.Stat()
	switch {
	case err != nil:
	case string(h[:8]) != magic, t.span <= 0, slots < window, slots&(slots-1) != 0, slots > 1<<40,
		st.Size() != headerSize+int64(slots)*slotSize,
		!strings.HasSuffix(path, string(filepath.Separator)+tableName(t.span, t.gen, t.level)):
		err = errors.New("bad header")
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	t.mask = slots - 1
	return t, nil
}

// tagOf is the tag of a slot holding k: 0 for the empty slot, otherwise k[8] (a byte the
// home slot does not depend on: it takes k[:8]), 1 standing for 0.
func tagOf(k Key) byte {
	switch {
	case k == (Key{}):
		return 0
	case k[8] == 0:
		return 1
	}
	return k[8]
}

// buildTags reads every slot of t, len(buf) bytes at a time, and sets t's tags from them.
// A read error is reported as ErrCorrupt, as one of the header is.
func (t *table) buildTags(buf []byte) error {
	tags := allocTags(int(t.mask + 1))
	per := uint64(len(buf) / slotSize)
	for slot := uint64(0); slot <= t.mask; {
		n := min(per, t.mask+1-slot)
		b := buf[:n*slotSize]
		if _, err := readAt(t.f, b, headerSize+int64(slot)*slotSize); err != nil {
			freeTags(tags)
			return fmt.Errorf("%w: %s: slots: %w", ErrCorrupt, t.path, err)
		}
		for i := range n {
			tags[slot+i] = tagOf(Key(b[i*slotSize:][:16]))
		}
		slot += n
	}
	t.tags = tags
	return nil
}

// dropTags releases t's tags; t is probed with reads from now on. The index's write lock
// must be held (or no other goroutine know the table).
func (t *table) dropTags() {
	freeTags(t.tags)
	t.tags = nil
}

// find probes for k from its home slot. It returns the slot index where k is or where it
// would go (the first empty one; past the end when the table is full), and k's sequence
// and time when found. With tags it reads only the slots whose tag is k's; without, or
// for the zero key (which matches an empty slot), it reads windows of slots.
func (t *table) find(k Key, buf *[window * slotSize]byte) (slot, seq uint64, at int64, found bool, err error) {
	if t.tags == nil || k == (Key{}) {
		return t.findRead(k, buf)
	}
	tag := tagOf(k)
	s := buf[:slotSize]
	slot = binary.LittleEndian.Uint64(k[:8]) & t.mask
	for range t.mask + 1 {
		switch t.tags[slot] {
		case 0:
			return slot, 0, 0, false, nil
		case tag:
			if p, ok := t.buffered(slot); ok {
				copy(s, p[:])
			} else if _, err := readAt(t.f, s, headerSize+int64(slot)*slotSize); err != nil {
				return 0, 0, 0, false, fmt.Errorf("horizon: read %s: %w", t.path, err)
			}
			if Key(s[:16]) == k {
				return slot, binary.LittleEndian.Uint64(s[16:]), int64(binary.LittleEndian.Uint64(s[24:])), true, nil
			}
		}
		slot = (slot + 1) & t.mask
	}
	return t.mask + 1, 0, 0, false, nil // full: no empty slot, and k is not there
}

// findRead is find for a table without tags: it reads window slots at a time.
func (t *table) findRead(k Key, buf *[window * slotSize]byte) (slot, seq uint64, at int64, found bool, err error) {
	slot = binary.LittleEndian.Uint64(k[:8]) & t.mask
	for probed := uint64(0); probed <= t.mask; {
		n := min(window, t.mask+1-slot) // do not read past the end: wrap instead
		b := buf[:n*slotSize]
		if _, err := readAt(t.f, b, headerSize+int64(slot)*slotSize); err != nil {
			return 0, 0, 0, false, fmt.Errorf("horizon: read %s: %w", t.path, err)
		}
		for i := range n {
			s := b[i*slotSize : (i+1)*slotSize]
			if p, ok := t.buffered(slot + i); ok { // a table whose tags were dropped after it buffered
				copy(s, p[:])
			}
			if Key(s[:16]) == k {
				return slot + i, binary.LittleEndian.Uint64(s[16:]), int64(binary.LittleEndian.Uint64(s[24:])), true, nil
			}
			if Key(s[:16]) == (Key{}) {
				return slot + i, 0, 0, false, nil
			}
		}
		probed += n
		slot = (slot + n) & t.mask
	}
	return t.mask + 1, 0, 0, false, nil // full: no empty slot, and k is not there
}

// put puts k into slot of t, the empty one find returned, then sets its tag: into t's
// buffer when t has tags and the buffer has room, otherwise with a write of its own. A
// failed write drops the table's tags: the slot may hold part of k now, and only a read
// can tell.
func (ix *Index) put(t *table, slot uint64, k Key, seq uint64, at int64, buf *[window * slotSize]byte) error {
	s := buf[:slotSize]
	copy(s, k[:])
	binary.LittleEndian.PutUint64(s[16:], seq)
	binary.LittleEndian.PutUint64(s[24:], uint64(at))
	if t.tags != nil && t.pend.len() < 4*ix.buffer {
		if t.pend == nil {
			t.pend = &buffer{ents: make([]bufEntry, 0, min(ix.buffer, int(t.mask+1)/2))} // a table is given a successor once half full
		}
		t.pend.add(slot, s)
		if t.pend.len() >= ix.buffer {
			select {
			case ix.kick <- struct{}{}:
			default: // a kick is pending already
			}
		}
	} else if _, err := writeAt(t.f, s, headerSize+int64(slot)*slotSize); err != nil {
		t.dropTags()
		return fmt.Errorf("horizon: write %s: %w", t.path, err)
	}
	if t.tags != nil {
		t.tags[slot] = tagOf(k)
	}
	t.count++
	t.dirty = true
	return nil
}

// flushLoop writes the buffers when one is full, until Close.
func (ix *Index) flushLoop() {
	for {
		select {
		case <-ix.stop:
			return
		case <-ix.kick:
		}
		ix.flushMu.Lock()
		ix.mu.Lock()
		if !ix.closed && ix.err == nil {
			ix.flush(true) // an error stays in ix.err
		}
		ix.mu.Unlock()
		ix.flushMu.Unlock()
	}
}

// stopFlusher ends flushLoop; it may be called more than once.
func (ix *Index) stopFlusher() {
	ix.halt.Do(func() { close(ix.stop) })
	ix.flusher.Wait()
}

// flush writes the buffered entries of every table to its file, in runs (see writeRun),
// and empties the buffers. With yield it releases the write lock while it sorts and
// between runs, so that lookups and adds go on meanwhile (what is added then stays
// buffered: the buffer being written is swapped out first). flushMu and the write lock are
// held. A failed write is returned and kept in ix.err: the index refuses adds and syncs
// from then on, and the entries not written stay buffered, for lookups.
func (ix *Index) flush(yield bool) error {
	var tables []*table
	for _, t := range ix.tables {
		if t.pend.len() > 0 {
			tables = append(tables, t)
		}
	}
	for _, t := range tables {
		if t.gone {
			continue
		}
		m := t.pend
		t.flushing, t.pend = m, nil // a new one when needed: none kept idle
		if yield {
			ix.mu.Unlock()
		}
		// The swapped-out buffer changes no more: read it without the lock.
		keys := ix.keys[:0]
		for i, e := range m.ents {
			keys = append(keys, sortKey(e.slot, i))
		}
		slices.Sort(keys)
		ix.keys = keys
		if yield {
			ix.mu.Lock()
		}
		for i := 0; i < len(keys) && !t.gone; {
			j := i + 1
			for j < len(keys) && keySlot(keys[j])-keySlot(keys[j-1]) <= runGap && keySlot(keys[j])-keySlot(keys[i]) < runMax {
				j++
			}
			if err := ix.writeRun(t, m, keys[i:j]); err != nil {
				ix.err = err // m stays t.flushing, for lookups: never swapped out again
				return err
			}
			i = j
			if yield {
				ix.mu.Unlock()
				ix.mu.Lock()
			}
		}
		t.flushing = nil
	}
	return nil
}

// writeRun writes entries of m, the buffer being written (keys: their sortKeys, ascending),
// to t's file: a slot alone with one write, more with one read of the slots from
// the first to the last, patched, and one write of them back. The slots between are
// rewritten as they were.
func (ix *Index) writeRun(t *table, m *buffer, keys []uint64) error {
	first := keySlot(keys[0])
	off := headerSize + int64(first)*slotSize
	var err error
	if len(keys) == 1 {
		_, err = writeAt(t.f, m.ents[keyPos(keys[0])].s[:], off)
	} else {
		n := int(keySlot(keys[len(keys)-1])-first+1) * slotSize
		if cap(ix.run) < n {
			ix.run = make([]byte, runMax*slotSize)
		}
		b := ix.run[:n]
		if _, err = readAt(t.f, b, off); err == nil {
			for _, k := range keys {
				copy(b[(keySlot(k)-first)*slotSize:], m.ents[keyPos(k)].s[:])
			}
			_, err = writeAt(t.f, b, off)
		}
	}
	if err != nil {
		t.dropTags()
		return fmt.Errorf("horizon: write %s: %w", t.path, err)
	}
	return nil
}

// sortKey orders a buffer's entries by slot and keeps their positions; keySlot and keyPos
// take it apart.
func sortKey(slot uint64, pos int) uint64 { return slot<<posBits | uint64(pos) }
func keySlot(k uint64) uint64             { return k >> posBits }
func keyPos(k uint64) int                 { return int(k & (1<<posBits - 1)) }

func (t *table) writeCount() error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], t.count)
	if _, err := t.f.WriteAt(b[:], 40); err != nil {
		return fmt.Errorf("horizon: write %s: %w", t.path, err)
	}
	t.counted = t.count
	return nil
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Remove deletes the index in dir (its tables and checkpoint), so that it is rebuilt.
func Remove(dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		return err
	}
	for _, name := range append(names, filepath.Join(dir, ckptName)) {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("horizon: %w", err)
		}
	}
	return nil
}

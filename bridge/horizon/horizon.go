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
// The index is a cache of the stream: whoever fills it records the last stream position it
// covers (Checkpoint) and, after a crash or with an empty directory, refills it from the
// stream from there. Writes are idempotent.
package horizon

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
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
	magic      = "HBHRZN01"
	suffix     = ".hix"
	ckptName   = "checkpoint"
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
	lock   *os.File
	bufs   sync.Pool
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
	// tags holds one byte per slot, the slot's tag (see tagOf) as in the file, or is nil
	// for a table probed with reads. Written only under the index's write lock.
	tags []byte
}

// readAt reads table files; tests replace it to count reads and to fail them.
var readAt = (*os.File).ReadAt

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
	return top.put(free, k, seq, at, buf)
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
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.sync()
}

func (ix *Index) sync() error {
	if ix.closed || !ix.dirty {
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
		t.f.Close()
		t.dropTags()
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
		t.f.Close()
		t.dropTags()
	}
	ix.tables = nil
	ix.lock.Close()
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
			if _, err := readAt(t.f, s, headerSize+int64(slot)*slotSize); err != nil {
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

// put writes k into slot, the empty one find returned, then its tag. A failed write drops
// the table's tags: the slot may hold part of k now, and only a read can tell.
func (t *table) put(slot uint64, k Key, seq uint64, at int64, buf *[window * slotSize]byte) error {
	s := buf[:slotSize]
	copy(s, k[:])
	binary.LittleEndian.PutUint64(s[16:], seq)
	binary.LittleEndian.PutUint64(s[24:], uint64(at))
	if _, err := t.f.WriteAt(s, headerSize+int64(slot)*slotSize); err != nil {
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

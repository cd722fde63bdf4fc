package horizon

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzOpen: whatever the index directory holds (a damaged disk, a file from elsewhere),
// Open returns an error or a working index, never a panic, and lookups then answer.
func FuzzOpen(f *testing.F) {
	valid := make([]byte, headerSize+8*slotSize)
	copy(valid, magic)
	binary.LittleEndian.PutUint64(valid[8:], 3600)
	binary.LittleEndian.PutUint64(valid[32:], 8)
	f.Add(valid, []byte(magic+"0123456789abcdef01234567"))
	f.Add([]byte("garbage"), []byte{})
	f.Fuzz(func(t *testing.T, table, ckpt []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "3600-0-0"+suffix), table, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ckptName), ckpt, 0o640); err != nil {
			t.Fatal(err)
		}
		ix, err := Open(dir, Options{Horizon: 2 * time.Hour, InitialSlots: 8, Now: func() time.Time { return time.Unix(1800, 0) }})
		if err != nil {
			return
		}
		defer ix.Close()
		for i := range 20 {
			k := KeyOf(string(rune('a' + i)))
			if _, _, err := ix.Lookup(k); err != nil {
				t.Fatal(err)
			}
			if err := ix.AddNew(Entry{Key: k, Seq: uint64(i), Time: time.Unix(1800, 0)}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

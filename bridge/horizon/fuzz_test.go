package horizon

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzOpen: whatever the index directory holds (a damaged disk, a file from elsewhere),
// Open returns an error or a working index, never a panic, and lookups then answer, with
// tags as without.
func FuzzOpen(f *testing.F) {
	valid := make([]byte, headerSize+8*slotSize)
	copy(valid, magic)
	binary.LittleEndian.PutUint64(valid[8:], 3600)
	binary.LittleEndian.PutUint64(valid[32:], 8)
	f.Add(valid, []byte(magic+"0123456789abcdef01234567"))
	f.Add([]byte("garbage"), []byte{})
	filled := slices.Clone(valid)
	for i := range 8 {
		if i != 4 {
			s := filled[headerSize+i*slotSize:]
			copy(s, []byte("slot 0123456789abcdefghijklmnop"))
			s[0], s[8] = byte(i), byte(i%3) // tags 1 and 2 collide
		}
	}
	f.Add(filled, []byte(magic+"0123456789abcdef01234567"))
	f.Fuzz(func(t *testing.T, table, ckpt []byte) {
		keys := []Key{{}}
		for s := table[min(len(table), headerSize):]; len(s) >= 16 && len(keys) < 64; s = s[min(len(s), slotSize):] {
			keys = append(keys, Key(s[:16]))
		}
		for i := range 20 {
			keys = append(keys, KeyOf(string(rune('a'+i))))
		}
		var dirs []string
		var answers [][]string
		for _, budget := range []int{0, -1} {
			dir := t.TempDir()
			dirs = append(dirs, dir)
			if err := os.WriteFile(filepath.Join(dir, "3600-0-0"+suffix), table, 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, ckptName), ckpt, 0o640); err != nil {
				t.Fatal(err)
			}
			ix, err := Open(dir, Options{Horizon: 2 * time.Hour, InitialSlots: 8, TagBudget: budget, Now: func() time.Time { return time.Unix(1800, 0) }})
			if err != nil {
				answers = append(answers, []string{"open: " + strings.ReplaceAll(err.Error(), dir, "")})
				continue
			}
			var got []string
			for i, k := range keys {
				e, ok, err := ix.Lookup(k)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprint(e.Seq, e.Time.Unix(), ok))
				if err := ix.AddNew(Entry{Key: k, Seq: uint64(i), Time: time.Unix(1800, 0)}); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range keys {
				e, ok, err := ix.Lookup(k)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprint(e.Seq, e.Time.Unix(), ok))
			}
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			answers = append(answers, got)
		}
		if !slices.Equal(answers[0], answers[1]) {
			t.Fatalf("with tags %q, without %q", answers[0], answers[1])
		}
		sameTables(t, dirs...)
	})
}

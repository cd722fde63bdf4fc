package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// StreamSyncer fsyncs the message blocks of one stream of an embedded server running
// without SyncAlways: what the server wrote (it writes each message into its block file
// before acknowledging it) is on the disk once Sync returns. A bridge uses it for group
// commit: one fsync after many acknowledgements instead of one per message.
//
// It relies on the file store's layout, <store>/jetstream/<account>/streams/<stream>/msgs/
// <n>.blk with n growing as blocks fill: each Sync fsyncs the newest block it knows, any
// newer ones, and the directory when a block appeared. Not safe for concurrent use.
type StreamSyncer struct {
	dir   string
	index uint64     // the newest block known
	files []*os.File // open blocks from index on, newest last
}

// NewStreamSyncer finds the message directory of stream under storeDir; the stream must exist.
func NewStreamSyncer(storeDir, stream string) (*StreamSyncer, error) {
	dirs, err := filepath.Glob(filepath.Join(storeDir, "jetstream", "*", "streams", stream, "msgs"))
	if err != nil || len(dirs) != 1 {
		return nil, fmt.Errorf("embedded: message blocks of stream %s under %s: found %d directories (%v)", stream, storeDir, len(dirs), err)
	}
	s := &StreamSyncer{dir: dirs[0]}
	if err := s.scan(); err != nil {
		return nil, err
	}
	return s, nil
}

// scan finds the newest block on disk.
func (s *StreamSyncer) scan() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("embedded: %w", err)
	}
	s.index = 0
	for _, e := range entries {
		if n, ok := blockIndex(e.Name()); ok && n > s.index {
			s.index = n
		}
	}
	return nil
}

func (s *StreamSyncer) path(n uint64) string {
	return filepath.Join(s.dir, strconv.FormatUint(n, 10)+".blk")
}

func blockIndex(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".blk")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// Sync makes every message the server acknowledged before the call durable.
func (s *StreamSyncer) Sync() error {
	grew := false
	if s.index > 0 {
		if _, err := os.Stat(s.path(s.index)); errors.Is(err, os.ErrNotExist) {
			// Blocks were filled and dropped (limits, purge) since the last sync: newer
			// ones than the next may exist.
			s.Close()
			if err := s.scan(); err != nil {
				return err
			}
			grew = true
		}
	}
	if len(s.files) == 0 && s.index > 0 {
		if err := s.open(s.index); err != nil {
			return err
		}
	}
	for {
		err := s.open(s.index + 1)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return err
		}
		s.index++
		grew = true
	}
	for _, f := range s.files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("embedded: fsync %s: %w", f.Name(), err)
		}
	}
	if grew {
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	// Keep the newest block open; the older ones are complete and now synced.
	for _, f := range s.files[:len(s.files)-min(1, len(s.files))] {
		f.Close()
	}
	if len(s.files) > 1 {
		s.files = append(s.files[:0], s.files[len(s.files)-1])
	}
	return nil
}

func (s *StreamSyncer) open(n uint64) error {
	f, err := os.Open(s.path(n))
	if err != nil {
		return err
	}
	s.files = append(s.files, f)
	return nil
}

// Newest is the newest block the syncer has synced.
func (s *StreamSyncer) Newest() uint64 { return s.index }

// Close closes the open blocks.
func (s *StreamSyncer) Close() {
	for _, f := range s.files {
		f.Close()
	}
	s.files = nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("embedded: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("embedded: fsync %s: %w", dir, err)
	}
	return nil
}

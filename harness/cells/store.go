package cells

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prunebench/armor/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Read returns the cells of a cells.jsonl file in file order, and the byte
// length of its complete, valid prefix. A torn or corrupt last line (as left
// by kill -9 during a write) is ignored; a corrupt line followed by valid
// ones is an error. A missing file reads as empty.
func Read(path string) ([]*Cell, int64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var out []*Cell
	var good int64
	line := 0
	for len(data) > 0 {
		line++
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			// No newline: a torn write. Everything before it is kept.
			return out, good, nil
		}
		var c Cell
		if err := json.Unmarshal(data[:i], &c); err != nil || c.Key == "" {
			if bytes.IndexByte(data[i+1:], '\n') < 0 && len(bytes.TrimSpace(data[i+1:])) == 0 {
				return out, good, nil // corrupt last line
			}
			return nil, 0, fmt.Errorf("%s:%d: not a cell: %v", path, line, err)
		}
		out = append(out, &c)
		good += int64(i + 1)
		data = data[i+1:]
	}
	return out, good, nil
}

// Store appends cells to one cells.jsonl file.
type Store struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// Open opens (creating it and its directory if needed) the cells file at
// path for appending, first truncating a torn last line. It returns the
// cells already there.
func Open(path string) (*Store, []*Cell, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, err
	}
	cells, good, err := Read(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if st.Size() != good {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: dropping a torn last line: %w", path, err)
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &Store{path: path, f: f}, cells, nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Append writes c as one line with a single write, then syncs the file.
// It is safe for concurrent use.
func (s *Store) Append(c *Cell) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding cell %s: %w", c.Key, err)
	}
	b = append(b, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return nil
}

// Close closes the file.
func (s *Store) Close() error { return s.f.Close() }

// Merge combines cells from several sources: the first cell of each key is
// kept, later duplicates with the same numbers are dropped, and a duplicate
// with different numbers is an error naming the key and the field. The
// result is sorted by experiment, layer, method and key.
func Merge(sets ...[]*Cell) ([]*Cell, int, error) {
	byKey := map[string]*Cell{}
	var out []*Cell
	dups := 0
	for _, set := range sets {
		for _, c := range set {
			if prev, ok := byKey[c.Key]; ok {
				if same, field := SameNumbers(prev, c); !same {
					return nil, 0, fmt.Errorf("cell %s (%s %s on %s) appears twice with different %s", c.Key, c.Method, c.Pattern, c.Layer, field)
				}
				dups++
				continue
			}
			byKey[c.Key] = c
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Experiment != b.Experiment {
			return a.Experiment < b.Experiment
		}
		if a.Layer != b.Layer {
			return a.Layer < b.Layer
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return a.Key < b.Key
	})
	return out, dups, nil
}

// WriteAll writes cells as a complete cells.jsonl file, atomically.
func WriteAll(path string, cs []*Cell) error {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := json.NewEncoder(w)
	for _, c := range cs {
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return WriteFileAtomic(path, buf.Bytes())
}

// WriteFileAtomic creates path's directory if needed and writes data to path
// so that readers see the old or the new content, never a mix (see
// internal/atomicfile).
func WriteFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data)
}

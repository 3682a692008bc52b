package datasets

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MappedFile is a safetensors file memory-mapped read-only: its tensors'
// Data are views of the mapping, so opening a checkpoint costs no memory
// until its pages are read, and ReleaseMapped can hand read pages back to
// the page cache. Its File must not be used after Close.
type MappedFile struct {
	*File
	data []byte
}

// mappings registers every live mapping, so that ReleaseMapped can tell a
// mapped slice from ordinary memory.
var mappings struct {
	sync.Mutex
	regions []*MappedFile
}

// MapSafetensors memory-maps and validates the safetensors file at path
// (the checks of ReadSafetensors; a truncated file is reported with its
// path and the tensor that runs past its end).
func MapSafetensors(path string) (*MappedFile, error) {
	fh, size, err := openSafetensors(path, true)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := unix.Mmap(int(fh.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("read %s: mmap: %w", path, err)
	}
	mf, err := parseMapped(data, path)
	if err != nil {
		_ = unix.Munmap(data)
		return nil, err
	}
	mappings.Lock()
	mappings.regions = append(mappings.regions, mf)
	mappings.Unlock()
	return mf, nil
}

func parseMapped(data []byte, path string) (*MappedFile, error) {
	size := int64(len(data))
	n := binary.LittleEndian.Uint64(data[:8])
	switch {
	case n > MaxHeaderLen:
		return nil, fmt.Errorf("read %s: header length %d is absurd (limit %d bytes); not a safetensors file?", path, n, MaxHeaderLen)
	case n > uint64(size-8):
		return nil, fmt.Errorf("read %s: header length %d exceeds the %d bytes after the length prefix (file truncated?)", path, n, size-8)
	}
	dataStart := 8 + int64(n)
	h, err := ParseHeader(data[8:dataStart], size-dataStart)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	body := data[dataStart:]
	f := &File{Path: path, Metadata: h.Metadata, Tensors: make([]Tensor, len(h.Tensors))}
	for i, ti := range h.Tensors {
		f.Tensors[i] = Tensor{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: body[ti.Begin:ti.End:ti.End]}
	}
	return &MappedFile{File: f, data: data}, nil
}

// Close unmaps the file; its tensors' Data must not be used afterwards.
func (m *MappedFile) Close() error {
	mappings.Lock()
	defer mappings.Unlock()
	for i, r := range mappings.regions {
		if r == m {
			mappings.regions = append(mappings.regions[:i], mappings.regions[i+1:]...)
			break
		}
	}
	if m.data == nil {
		return nil
	}
	err := unix.Munmap(m.data)
	m.data = nil
	if err != nil {
		return fmt.Errorf("close %s: munmap: %w", m.Path, err)
	}
	return nil
}

// ReleaseMapped tells the kernel that the whole pages inside b, a view of a
// live MappedFile, are not needed for now: they leave the process's
// resident set (they stay in the page cache, and reading b again maps them
// back). It does nothing for memory that is not such a view, so it is safe
// to call on any slice.
func ReleaseMapped(b []byte) {
	if len(b) == 0 {
		return
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	hi := lo + uintptr(len(b))
	mappings.Lock()
	defer mappings.Unlock()
	for _, r := range mappings.regions {
		if r.data == nil {
			continue
		}
		base := uintptr(unsafe.Pointer(unsafe.SliceData(r.data)))
		if lo < base || hi > base+uintptr(len(r.data)) {
			continue
		}
		page := uintptr(os.Getpagesize())
		a0 := (lo + page - 1) &^ (page - 1)
		a1 := hi &^ (page - 1)
		if a1 > a0 {
			_ = unix.Madvise(r.data[a0-base:a1-base], unix.MADV_DONTNEED)
		}
		return
	}
}

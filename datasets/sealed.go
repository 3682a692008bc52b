package datasets

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sort"
)

// SealKey is the metadata key under which WriteSealedSafetensors records
// the SHA-256 of a file's tensors (names, dtypes, shapes and data).
const SealKey = "sha256"

// WriteSealedSafetensors writes a safetensors file (atomically, as
// WriteSafetensors) whose metadata also records the SHA-256 of its tensors,
// so that ReadSealedSafetensors detects a file damaged after it was written
// (truncated, or bytes changed), not only one whose header is inconsistent.
func WriteSealedSafetensors(path string, tensors []Tensor, metadata map[string]string) error {
	meta := maps.Clone(metadata)
	if meta == nil {
		meta = map[string]string{}
	}
	if _, ok := meta[SealKey]; ok {
		return fmt.Errorf("write %s: metadata key %q is reserved for the seal", path, SealKey)
	}
	meta[SealKey] = tensorsDigest(tensors)
	return WriteSafetensors(path, tensors, meta)
}

// ReadSealedSafetensors reads a file written by WriteSealedSafetensors and
// checks its seal (which stays in the returned metadata under SealKey).
func ReadSealedSafetensors(path string) (*File, error) {
	f, err := ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	want, ok := f.Metadata[SealKey]
	if !ok {
		return nil, fmt.Errorf("read %s: no %q seal in the metadata (not written by armor, or damaged)", path, SealKey)
	}
	if got := tensorsDigest(f.Tensors); got != want {
		return nil, fmt.Errorf("read %s: contents do not match the recorded sha256 (the file is damaged)", path)
	}
	return f, nil
}

// ReadSafetensorsHeader reads and validates only the header of the
// safetensors file at path (its tensor index and metadata), not the data.
func ReadSafetensorsHeader(path string) (*Header, error) {
	fh, size, err := openSafetensors(path, true)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var prefix [8]byte
	if err := readFull(fh, prefix[:], 0); err != nil {
		return nil, fmt.Errorf("read %s: header length prefix: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderLen || n > uint64(size-8) {
		return nil, fmt.Errorf("read %s: header length %d does not fit the %d-byte file (truncated, or not a safetensors file)", path, n, size)
	}
	header := make([]byte, n)
	if err := readFull(fh, header, 8); err != nil {
		return nil, fmt.Errorf("read %s: header: %w", path, err)
	}
	h, err := ParseHeader(header, size-8-int64(n))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h, nil
}

// tensorsDigest hashes every tensor's name, dtype, shape and bytes in order.
func tensorsDigest(ts []Tensor) string {
	h := sha256.New()
	for _, t := range ts {
		fmt.Fprintf(h, "%s\x00%s\x00%v\x00%d\x00", t.Name, t.DType, t.Shape, len(t.Data))
		h.Write(t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Fingerprinting reads files of up to fingerprintWholeBytes completely; of
// a larger file it reads fingerprintSamples evenly spaced pieces of
// fingerprintSampleBytes (the first and the last included).
const (
	fingerprintWholeBytes  = 64 << 20
	fingerprintSamples     = 1024
	fingerprintSampleBytes = 4 << 10
)

// FingerprintFiles returns a SHA-256 identifying the given files (a
// directory stands for the regular, non-hidden files directly in it, in
// name order): each file's base name, size and contents — all of it for a
// file of at most 64 MiB, else 1024 evenly spaced 4 KiB pieces (4 MiB,
// including the first bytes, which hold a safetensors header). The sampled
// form tells apart checkpoints of the same shapes with different values at
// a tiny fraction of a full read; it cannot see a change confined to bytes
// it does not read.
func FingerprintFiles(paths ...string) (string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("fingerprint: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return "", fmt.Errorf("fingerprint: %w", err)
		}
		var names []string
		for _, e := range ents {
			if e.Type().IsRegular() && e.Name()[0] != '.' {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			files = append(files, filepath.Join(p, n))
		}
	}
	h := sha256.New()
	for _, f := range files {
		if err := fingerprintFile(h, f); err != nil {
			return "", fmt.Errorf("fingerprint %s: %w", f, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fingerprintFile adds one file's name, size and (sampled) contents to h.
func fingerprintFile(h io.Writer, path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(path), size)
	if size <= fingerprintWholeBytes {
		_, err = io.Copy(h, fh)
		return err
	}
	buf := make([]byte, fingerprintSampleBytes)
	last := size - fingerprintSampleBytes
	for k := int64(0); k < fingerprintSamples; k++ {
		off := last * k / (fingerprintSamples - 1)
		if _, err := fh.ReadAt(buf, off); err != nil {
			return err
		}
		h.Write(buf)
	}
	return nil
}

package datasets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSealedSafetensorsDetectsDamage: a byte changed in the data section
// passes the header checks but not the seal; an intact file reads back.
func TestSealedSafetensorsDetectsDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	tt, err := TensorFromFloat64s("w", F64, []int{4}, []float64{1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteSealedSafetensors(path, []Tensor{tt}, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadSealedSafetensors(path)
	if err != nil || f.Metadata["k"] != "v" {
		t.Fatalf("intact file: %v %v", err, f)
	}
	b, _ := os.ReadFile(path)
	b[len(b)-3] ^= 1
	os.WriteFile(path, b, 0o644)
	if _, err := ReadSafetensors(path); err != nil {
		t.Fatalf("the flipped byte should pass the header checks: %v", err)
	}
	if _, err := ReadSealedSafetensors(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("flipped byte: %v", err)
	}
	if err := WriteSealedSafetensors(path, nil, map[string]string{SealKey: "x"}); err == nil {
		t.Fatal("the seal key was accepted as metadata")
	}
}

// TestFingerprintFiles: equal files give equal fingerprints; a changed
// byte (read whole, or sampled in a large file) or name changes it.
func TestFingerprintFiles(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "a.bin")
	os.WriteFile(small, []byte("hello"), 0o644)
	big := filepath.Join(dir, "b.bin")
	data := make([]byte, fingerprintWholeBytes+fingerprintSampleBytes*3)
	os.WriteFile(big, data, 0o644)
	fp := func() string {
		s, err := FingerprintFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := fp()
	if fp() != base {
		t.Fatal("fingerprint not deterministic")
	}
	os.WriteFile(small, []byte("hellO"), 0o644)
	if fp() == base {
		t.Fatal("a changed byte of a small file kept the fingerprint")
	}
	os.WriteFile(small, []byte("hello"), 0o644)
	data[len(data)-1] = 1 // the last piece is always sampled
	os.WriteFile(big, data, 0o644)
	if fp() == base {
		t.Fatal("a changed last byte of a large file kept the fingerprint")
	}
	if _, err := FingerprintFiles(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}

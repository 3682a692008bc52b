package tokenizer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// sharedData returns the path of name inside the shared data folder, which
// lives at ../shared/data relative to the repository root (the directory
// holding go.mod). The test fails if the file is missing.
func sharedData(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		require.NotEqualf(t, parent, dir, "no go.mod found above the test's working directory")
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "data", filepath.FromSlash(name))
	_, err = os.Stat(p)
	require.NoErrorf(t, err, "shared test data %s is missing: expected at ../shared/data/%s relative to the repository root %s", name, name, dir)
	return p
}

// loadTok512 reads the stories260K tokenizer from the shared data.
func loadTok512(t *testing.T) *Tokenizer {
	t.Helper()
	f, err := os.Open(sharedData(t, "models/stories260K/tok512.bin"))
	require.NoError(t, err)
	defer f.Close()
	tok, err := Read(f, 512)
	require.NoError(t, err)
	return tok
}

package tokenizer

import (
	"github.com/prunebench/armor/internal/shared"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// sharedData returns the path of name inside ../shared/data; the test fails,
// not skips, when the file is missing.
func sharedData(t *testing.T, name string) string {
	t.Helper()
	return shared.Path(t, "data", filepath.FromSlash(name))
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

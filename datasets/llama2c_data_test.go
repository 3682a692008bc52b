package datasets

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/tokenizer"
	"github.com/stretchr/testify/require"
)

// llama2cSharedPath returns the path of rel inside the shared data folder,
// ../shared/data relative to the repository root (the nearest directory
// above the test's working directory holding go.mod). The test fails, not
// skips, when the file is missing.
func llama2cSharedPath(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		require.NotEqualf(t, parent, dir, "no go.mod above the test's working directory: cannot locate the repository root")
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "data", filepath.FromSlash(rel))
	_, err = os.Stat(p)
	require.NoErrorf(t, err, "shared test data missing: %s must exist at ../shared/data/%s relative to the repository root %s", rel, rel, dir)
	return p
}

// Paths of the shared stories260K checkpoint and its tokenizer.
const (
	llama2cStoriesBin = "models/stories260K/stories260K.bin"
	llama2cStoriesTok = "models/stories260K/tok512.bin"
)

// llama2cStories loads the dense stories260K model and its tokenizer.
func llama2cStories(t testing.TB) (*model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	cfg, w, err := LoadLlama2C(llama2cSharedPath(t, llama2cStoriesBin))
	require.NoError(t, err)
	m, err := model.New(*cfg, w)
	require.NoError(t, err)
	tok, err := LoadTokenizerBin(llama2cSharedPath(t, llama2cStoriesTok))
	require.NoError(t, err)
	require.Equal(t, cfg.VocabSize, tok.VocabSize())
	return m, tok
}

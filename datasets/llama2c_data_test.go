package datasets

import (
	"github.com/prunebench/armor/internal/shared"
	"path/filepath"
	"testing"

	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/tokenizer"
	"github.com/stretchr/testify/require"
)

// llama2cSharedPath returns the path of rel inside ../shared/data; the test
// fails, not skips, when the file is missing.
func llama2cSharedPath(t testing.TB, rel string) string {
	t.Helper()
	return shared.Path(t, "data", filepath.FromSlash(rel))
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

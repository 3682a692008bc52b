package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/tokenizer"
)

// Format names of the model files LoadModel understands.
const (
	FormatLlama2C  = "llama2c"
	FormatHF       = "hf"
	FormatFactored = "factored"
)

// DetectFormat says what path holds: a factorized ARMOR model (a directory
// with armor_manifest.json), a Hugging Face checkpoint (a directory with
// config.json, or a config.json / model.safetensors inside one) or a
// llama2.c checkpoint (any other file). It returns the directory or file to
// load.
func DetectFormat(path string) (format, target string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("model %s: %w", path, err)
	}
	if st.IsDir() {
		switch {
		case IsFactoredDir(path):
			return FormatFactored, path, nil
		case datasets.IsHFDir(path):
			return FormatHF, path, nil
		}
		return "", "", fmt.Errorf("model directory %s holds neither %s (factorized ARMOR model) nor %s (Hugging Face checkpoint)", path, ManifestFile, datasets.HFConfigFile)
	}
	base := filepath.Base(path)
	if base == ManifestFile {
		return FormatFactored, filepath.Dir(path), nil
	}
	if base == datasets.HFConfigFile || (strings.HasSuffix(base, ".safetensors") && datasets.IsHFDir(filepath.Dir(path))) {
		return FormatHF, filepath.Dir(path), nil
	}
	return FormatLlama2C, path, nil
}

// LoadModel loads a model in any format DetectFormat recognises.
func LoadModel(path string) (*model.Model, string, error) {
	format, target, err := DetectFormat(path)
	if err != nil {
		return nil, "", err
	}
	var (
		cfg *model.Config
		w   *model.Weights
	)
	switch format {
	case FormatFactored:
		m, _, _, err := LoadFactored(target)
		return m, format, err
	case FormatHF:
		cfg, w, err = datasets.LoadHF(target)
	default:
		cfg, w, err = datasets.LoadLlama2C(target)
	}
	if err != nil {
		return nil, "", err
	}
	m, err := model.New(*cfg, w)
	if err != nil {
		return nil, "", fmt.Errorf("model %s: %w", path, err)
	}
	return m, format, nil
}

// TokenizerCandidates lists where LoadTokenizer looks when no tokenizer is
// given for the model at modelPath: tokenizer.json, tokenizer.bin and
// tok<vocab>.bin in the model's directory (the directory itself for a
// directory model).
func TokenizerCandidates(modelPath string, vocab int) []string {
	dir := modelPath
	if st, err := os.Stat(modelPath); err == nil && !st.IsDir() {
		dir = filepath.Dir(modelPath)
	}
	return []string{
		filepath.Join(dir, "tokenizer.json"),
		filepath.Join(dir, "tokenizer.bin"),
		filepath.Join(dir, fmt.Sprintf("tok%d.bin", vocab)),
	}
}

// LoadTokenizer reads a tokenizer (llama2.c tokenizer.bin, or a Hugging
// Face tokenizer.json) and returns it with its BOS id. An empty path
// searches TokenizerCandidates(modelPath, vocab).
func LoadTokenizer(path, modelPath string, vocab int) (Encoder, int, string, error) {
	if path == "" {
		cands := TokenizerCandidates(modelPath, vocab)
		for _, c := range cands {
			if _, err := os.Stat(c); err == nil {
				path = c
				break
			}
		}
		if path == "" {
			return nil, 0, "", fmt.Errorf("no tokenizer given and none found: looked for %s; pass --tokenizer", strings.Join(cands, ", "))
		}
	}
	if strings.HasSuffix(path, ".json") {
		t, err := tokenizer.LoadJSON(path)
		if err != nil {
			return nil, 0, "", err
		}
		return t, t.BOS(), path, nil
	}
	t, err := datasets.LoadTokenizerBin(path)
	if err != nil {
		return nil, 0, "", err
	}
	return t, tokenizer.BOS, path, nil
}

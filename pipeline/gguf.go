package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/model"
)

// GGUFFile is the name of the GGUF file `armor prune --gguf` writes under
// its --out directory.
const GGUFFile = "model.gguf"

// GGUFTokenizer picks the llama2.c tokenizer.bin a GGUF export of the model
// at modelPath embeds: tokPath when given, else the first .bin of
// TokenizerCandidates that exists. A GGUF "llama" tokenizer needs the
// SentencePiece merge scores, which only tokenizer.bin has.
func GGUFTokenizer(tokPath, modelPath string, vocab int) (string, error) {
	if tokPath != "" {
		if !strings.HasSuffix(tokPath, ".bin") {
			return "", fmt.Errorf("tokenizer %s: a GGUF export needs the llama2.c tokenizer.bin (SentencePiece pieces with merge scores), not %s", tokPath, filepath.Ext(tokPath))
		}
		return tokPath, nil
	}
	cands := TokenizerCandidates(modelPath, vocab)
	for _, c := range cands {
		if strings.HasSuffix(c, ".bin") {
			if _, err := os.Stat(c); err == nil {
				return c, nil
			}
		}
	}
	return "", fmt.Errorf("no tokenizer.bin for the GGUF export: looked for %s; pass --tokenizer tokenizer.bin", strings.Join(cands, ", "))
}

// ExportGGUF writes m to path as a llama.cpp GGUF file (datasets.SaveGGUF)
// with the tokenizer at tokBin (a llama2.c tokenizer.bin), tensors in dt
// (F32 or F16), and meta as string keys "armor.<key>" (e.g. HFMetadata).
func ExportGGUF(path string, m *model.Model, tokBin string, dt datasets.DType, name string, meta map[string]string) error {
	tok, err := datasets.LoadTokenizerBin(tokBin)
	if err != nil {
		return fmt.Errorf("gguf export: %w", err)
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		if k != "format" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	opt := datasets.GGUFOptions{DType: dt, Name: name}
	for _, k := range keys {
		opt.Extra = append(opt.Extra, datasets.GGUFKV{Key: "armor." + k, Value: meta[k]})
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("gguf export: %w", err)
	}
	return datasets.SaveGGUF(path, m.Config(), m.Weights(), tok, opt)
}

package pipeline

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/atomicfile"
)

// Tokenizer files of an exported model directory.
const (
	TokenizerJSONFile   = "tokenizer.json"
	TokenizerConfigFile = "tokenizer_config.json"
	TokenizerBinFile    = "tokenizer.bin"
	SpecialTokensFile   = "special_tokens_map.json"
)

// TokenizerFiles are the files WriteTokenizerFiles writes and
// CopyTokenizerFiles carries over.
var TokenizerFiles = []string{TokenizerJSONFile, TokenizerConfigFile, SpecialTokensFile, TokenizerBinFile}

// WriteTokenizerFiles writes the tokenizer at tokPath into dir as Hugging
// Face tools expect it: tokenizer.json (converted from a llama2.c
// tokenizer.bin when that is what tokPath is, copied otherwise),
// tokenizer_config.json and special_tokens_map.json for a Llama
// SentencePiece tokenizer (<s> added at the start, no </s>), and for a .bin
// input the original as tokenizer.bin (it keeps the merge scores a GGUF
// export needs). maxLength is the model's context length. It returns the
// files written.
func WriteTokenizerFiles(dir, tokPath string, maxLength int) ([]string, error) {
	var js, bin []byte
	if strings.HasSuffix(tokPath, ".json") {
		b, err := os.ReadFile(tokPath)
		if err != nil {
			return nil, fmt.Errorf("export tokenizer: %w", err)
		}
		js = b
	} else {
		t, err := datasets.LoadTokenizerBin(tokPath)
		if err != nil {
			return nil, fmt.Errorf("export tokenizer: %w", err)
		}
		if js, err = t.ToJSON(); err != nil {
			return nil, fmt.Errorf("export tokenizer %s: %w", tokPath, err)
		}
		if bin, err = os.ReadFile(tokPath); err != nil {
			return nil, fmt.Errorf("export tokenizer: %w", err)
		}
	}
	cfg := map[string]any{
		"tokenizer_class":              "LlamaTokenizerFast",
		"add_bos_token":                true,
		"add_eos_token":                false,
		"bos_token":                    "<s>",
		"eos_token":                    "</s>",
		"unk_token":                    "<unk>",
		"pad_token":                    nil,
		"model_max_length":             maxLength,
		"clean_up_tokenization_spaces": false,
		"legacy":                       true,
	}
	special := map[string]string{"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
	cb, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	sb, err := json.MarshalIndent(special, "", "  ")
	if err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
	}{{TokenizerJSONFile, js}, {TokenizerConfigFile, cb}, {SpecialTokensFile, sb}, {TokenizerBinFile, bin}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export tokenizer: %w", err)
	}
	var out []string
	for _, f := range files {
		if f.data == nil {
			continue
		}
		p := filepath.Join(dir, f.name)
		if err := atomicfile.WriteFile(p, f.data); err != nil {
			return out, fmt.Errorf("export tokenizer: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// CopyTokenizerFiles copies the tokenizer files (TokenizerFiles) that exist
// in from into to, and returns the names copied.
func CopyTokenizerFiles(from, to string) ([]string, error) {
	var out []string
	for _, n := range TokenizerFiles {
		b, err := os.ReadFile(filepath.Join(from, n))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("copy tokenizer: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(to, n), b); err != nil {
			return out, fmt.Errorf("copy tokenizer: %w", err)
		}
		out = append(out, n)
	}
	return out, nil
}

// HFMetadata is the safetensors metadata of a pruned model's hf/ export.
// ARMOR's hf/ weights are dense — each layer is A·S·B multiplied out, so
// they are not N:M sparse — and the metadata says so (weights "dense",
// pruning_pattern "none") and names the pattern of the core, which is kept
// with A and B in factored/. The other methods' weights are N:M sparse
// (stored dense with zeros).
func HFMetadata(p *Pruned) map[string]string {
	m := map[string]string{"pruning_method": p.Method, "pruning_protocol": string(p.Protocol)}
	if p.Method == "armor" {
		m["weights"] = "dense"
		m["pruning_pattern"] = "none"
		m["armor_core_pattern"] = p.Pattern.String()
		m["armor_note"] = "each linear layer is ARMOR's A·S·B multiplied out: dense, not " + p.Pattern.String() + " sparse; the " +
			p.Pattern.String() + " core S and the block-diagonal wrappers A and B are in ../factored (armor_manifest.json)"
		return m
	}
	m["weights"] = p.Pattern.String() + " sparse, stored dense with zeros"
	m["pruning_pattern"] = p.Pattern.String()
	return m
}

// ReadHFMetadata returns the safetensors header metadata of the Hugging
// Face checkpoint in dir (model.safetensors, or the first shard of its
// index), without reading the tensors. Keys written by the safetensors
// format itself ("format") are included.
func ReadHFMetadata(dir string) (map[string]string, error) {
	path := filepath.Join(dir, datasets.HFWeightsFile)
	if _, err := os.Stat(path); err != nil {
		b, err2 := os.ReadFile(filepath.Join(dir, datasets.HFIndexFile))
		if err2 != nil {
			return nil, fmt.Errorf("%s: no %s or %s", dir, datasets.HFWeightsFile, datasets.HFIndexFile)
		}
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, datasets.HFIndexFile), err)
		}
		first := ""
		for _, f := range idx.WeightMap {
			if first == "" || f < first {
				first = f
			}
		}
		if first == "" {
			return nil, fmt.Errorf("%s: empty weight_map", filepath.Join(dir, datasets.HFIndexFile))
		}
		path = filepath.Join(dir, first)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil {
		return nil, fmt.Errorf("%s: header length: %w", path, err)
	}
	if n > 100<<20 {
		return nil, fmt.Errorf("%s: header of %d bytes is not plausible", path, n)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(f, hb); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	var hdr struct {
		Meta map[string]string `json:"__metadata__"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	if hdr.Meta == nil {
		hdr.Meta = map[string]string{}
	}
	return hdr.Meta, nil
}

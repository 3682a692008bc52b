package datasets

import (
	"encoding/json"
	"fmt"
	"github.com/prunebench/armor/internal/atomicfile"
	"os"
	"path/filepath"

	"github.com/prunebench/armor/model"
)

// HFSaveOptions control SaveHF.
type HFSaveOptions struct {
	// DType of the stored tensors: F32 (default), F16 or BF16.
	DType DType
	// ShardBytes, when > 0, splits the tensors into files
	// model-0000k-of-0000n.safetensors of at most about this many bytes
	// (a tensor is never split) with a model.safetensors.index.json;
	// otherwise everything goes into model.safetensors.
	ShardBytes int64
	// Metadata is copied into every safetensors header (format "pt" is
	// always set, as transformers expects).
	Metadata map[string]string
}

var torchDType = map[DType]string{F32: "float32", F16: "float16", BF16: "bfloat16"}

// HFTensors returns the tensors of (cfg, w) in Hugging Face layout and
// naming, in forward order, with the query and key projections permuted to
// the halves RoPE layout when cfg uses the interleaved one.
func HFTensors(cfg model.Config, w *model.Weights, dt DType) ([]Tensor, error) {
	cfg, w, err := model.ConvertRopeLayout(cfg, w, false)
	if err != nil {
		return nil, err
	}
	d, V := cfg.Dim, cfg.VocabSize
	var out []Tensor
	add := func(name string, v []float32, shape ...int) error {
		t, err := TensorFromFloat32s(name, dt, shape, v)
		if err != nil {
			return err
		}
		out = append(out, t)
		return nil
	}
	if err := add("model.embed_tokens.weight", w.TokenEmbedding, V, d); err != nil {
		return nil, err
	}
	for i := range w.Layers {
		L := &w.Layers[i]
		if err := add(fmt.Sprintf("model.layers.%d.input_layernorm.weight", i), L.AttnNorm, d); err != nil {
			return nil, err
		}
		for _, p := range model.Projections {
			l, err := w.Linear(model.LinearName(i, p))
			if err != nil {
				return nil, err
			}
			if err := add(HFTensorName(i, p), l.W, l.Out, l.In); err != nil {
				return nil, err
			}
		}
		if err := add(fmt.Sprintf("model.layers.%d.post_attention_layernorm.weight", i), L.FFNNorm, d); err != nil {
			return nil, err
		}
	}
	if err := add("model.norm.weight", w.FinalNorm, d); err != nil {
		return nil, err
	}
	if w.Classifier != nil {
		if err := add("lm_head.weight", w.Classifier.W, V, d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SaveHF writes (cfg, w) as a Hugging Face Llama checkpoint in dir
// (created if needed): config.json and model.safetensors, or shards with an
// index (opt.ShardBytes). Files are written atomically. The result loads
// with transformers' LlamaForCausalLM.from_pretrained(dir) and with LoadHF.
func SaveHF(dir string, cfg model.Config, w *model.Weights, opt HFSaveOptions) error {
	if opt.DType == "" {
		opt.DType = F32
	}
	if _, ok := torchDType[opt.DType]; !ok {
		return fmt.Errorf("save hugging face checkpoint: dtype %q: want F32, F16 or BF16", string(opt.DType))
	}
	if err := w.Validate(cfg.WithDefaults()); err != nil {
		return fmt.Errorf("save hugging face checkpoint %s: %w", dir, err)
	}
	tensors, err := HFTensors(cfg, w, opt.DType)
	if err != nil {
		return fmt.Errorf("save hugging face checkpoint %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save hugging face checkpoint: %w", err)
	}
	meta := map[string]string{"format": "pt"}
	for k, v := range opt.Metadata {
		meta[k] = v
	}
	if err := writeHFTensors(dir, tensors, meta, opt.ShardBytes); err != nil {
		return err
	}
	hc := NewHFConfig(cfg, w.Tied(), torchDType[opt.DType])
	return WriteJSONAtomic(filepath.Join(dir, HFConfigFile), hc)
}

// writeHFTensors writes tensors as model.safetensors or as shards with an
// index, removing a stale file of the other kind.
func writeHFTensors(dir string, tensors []Tensor, meta map[string]string, shardBytes int64) error {
	if shardBytes <= 0 {
		if err := WriteSafetensors(filepath.Join(dir, HFWeightsFile), tensors, meta); err != nil {
			return err
		}
		_ = os.Remove(filepath.Join(dir, HFIndexFile))
		return nil
	}
	var shards [][]Tensor
	var size int64
	for _, t := range tensors {
		if len(shards) == 0 || (size > 0 && size+int64(len(t.Data)) > shardBytes) {
			shards = append(shards, nil)
			size = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], t)
		size += int64(len(t.Data))
	}
	index := struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{Metadata: map[string]int64{"total_size": 0}, WeightMap: map[string]string{}}
	for k, sh := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, len(shards))
		if err := WriteSafetensors(filepath.Join(dir, name), sh, meta); err != nil {
			return err
		}
		for _, t := range sh {
			index.WeightMap[t.Name] = name
			index.Metadata["total_size"] += int64(len(t.Data))
		}
	}
	if err := WriteJSONAtomic(filepath.Join(dir, HFIndexFile), index); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, HFWeightsFile))
	return nil
}

// WriteJSONAtomic writes v as indented JSON to path through a temporary
// file in the same directory and a rename.
func WriteJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

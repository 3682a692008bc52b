package datasets

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/prunebench/armor/internal/atomicfile"
	"github.com/prunebench/armor/model"
)

// DefaultShardBytes is the shard limit of Hugging Face's save_pretrained
// (max_shard_size "5GB").
const DefaultShardBytes = 5_000_000_000

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

// TorchDType returns config.json's torch_dtype name of dt ("" if none).
func TorchDType(dt DType) string { return torchDType[dt] }

// halfDType maps a Linear's 16-bit storage to its safetensors dtype.
var halfDType = map[model.HalfKind]DType{model.HalfBF16: BF16, model.HalfF16: F16}

// WeightsDType returns the dtype the projection weights of w are stored in:
// BF16 or F16 when the first one is held in half precision, F32 otherwise.
// It is the dtype an export keeps by default.
func WeightsDType(w *model.Weights) DType {
	if len(w.Layers) > 0 && w.Layers[0].Wq != nil && w.Layers[0].Wq.IsHalf() {
		return halfDType[w.Layers[0].Wq.HalfKind]
	}
	return F32
}

// CheckpointBytes returns the size of the checkpoint's largest
// safetensors file in dir, or 0 when none can be read; an export uses it to
// shard like its input.
func CheckpointBytes(dir string) int64 {
	var largest int64
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			largest = max(largest, st.Size())
		}
	}
	return largest
}

// HFStreamTensors returns the tensors of (cfg, w) in Hugging Face layout
// and naming, in forward order, encoded in dtype dt when written, with the
// query and key projections permuted to the halves RoPE layout when cfg
// uses the interleaved one. Half-precision weights already in dt are
// copied as they are (and their mapped pages released once written).
func HFStreamTensors(cfg model.Config, w *model.Weights, dt DType) ([]StreamTensor, error) {
	switch dt {
	case F32, F16, BF16:
	default:
		return nil, fmt.Errorf("dtype %q: want F32, F16 or BF16", string(dt))
	}
	cfg, w, err := model.ConvertRopeLayout(cfg, w, false)
	if err != nil {
		return nil, err
	}
	d := cfg.Dim
	vec := func(name string, v []float32, shape ...int) StreamTensor {
		return StreamTensor{Name: name, DType: dt, Shape: shape, Write: func(wr io.Writer) error { return EncodeFloat32s(wr, dt, v) }}
	}
	lin := func(name string, l *model.Linear) StreamTensor {
		return StreamTensor{Name: name, DType: dt, Shape: []int{l.Out, l.In}, Write: func(wr io.Writer) error { return EncodeLinear(wr, dt, l) }}
	}
	out := []StreamTensor{lin("model.embed_tokens.weight", w.Embedding())}
	for i := range w.Layers {
		L := &w.Layers[i]
		out = append(out, vec(fmt.Sprintf("model.layers.%d.input_layernorm.weight", i), L.AttnNorm, d))
		for _, p := range model.Projections {
			l := L.Projection(p)
			out = append(out, lin(HFTensorName(i, p), l))
			if l.Bias != nil {
				out = append(out, vec(HFBiasName(i, p), l.Bias, l.Out))
			}
		}
		out = append(out, vec(fmt.Sprintf("model.layers.%d.post_attention_layernorm.weight", i), L.FFNNorm, d))
	}
	out = append(out, vec("model.norm.weight", w.FinalNorm, d))
	if w.Classifier != nil {
		out = append(out, lin("lm_head.weight", w.Classifier))
	}
	return out, nil
}

// EncodeLinear writes l's weights to w as dtype dt, a block of rows at a
// time (bounded memory); half-precision weights already in dt are copied
// as they are, and their mapped pages released afterwards.
func EncodeLinear(w io.Writer, dt DType, l *model.Linear) error {
	if l.IsHalf() && halfDType[l.HalfKind] == dt {
		_, err := w.Write(l.Half)
		ReleaseMapped(l.Half)
		return err
	}
	if !l.IsHalf() {
		return EncodeFloat32s(w, dt, l.W)
	}
	step := max(1, (4<<20)/(4*l.In))
	buf := make([]float32, step*l.In)
	for r0 := 0; r0 < l.Out; r0 += step {
		r1 := min(l.Out, r0+step)
		l.RowsFloat32(buf, r0, r1)
		if err := EncodeFloat32s(w, dt, buf[:(r1-r0)*l.In]); err != nil {
			return err
		}
	}
	ReleaseMapped(l.Half)
	return nil
}

// SaveHF writes (cfg, w) as a Hugging Face checkpoint in dir (created if
// needed): config.json and model.safetensors, or shards with an index
// (opt.ShardBytes), one tensor at a time. Files are written atomically. A
// model with q/k/v biases is written as Qwen2, others as Llama. The result
// loads with transformers' AutoModelForCausalLM.from_pretrained(dir) and
// with LoadHF.
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
	tensors, err := HFStreamTensors(cfg, w, opt.DType)
	if err != nil {
		return fmt.Errorf("save hugging face checkpoint %s: %w", dir, err)
	}
	hc := NewHFConfigFor(cfg, w, torchDType[opt.DType])
	return WriteHFCheckpoint(dir, hc, tensors, opt)
}

// WriteHFCheckpoint writes config.json and the tensors (model.safetensors,
// or shards of at most opt.ShardBytes with an index) into dir, creating
// it; opt.DType is not used (the tensors carry theirs).
func WriteHFCheckpoint(dir string, hc HFConfig, tensors []StreamTensor, opt HFSaveOptions) error {
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
	return WriteJSONAtomic(filepath.Join(dir, HFConfigFile), hc)
}

// writeHFTensors writes tensors as model.safetensors or as shards with an
// index, removing a stale file of the other kind.
func writeHFTensors(dir string, tensors []StreamTensor, meta map[string]string, shardBytes int64) error {
	if shardBytes <= 0 {
		if err := WriteSafetensorsStream(filepath.Join(dir, HFWeightsFile), tensors, meta); err != nil {
			return err
		}
		_ = os.Remove(filepath.Join(dir, HFIndexFile))
		return nil
	}
	var shards [][]StreamTensor
	var size int64
	for _, t := range tensors {
		n, err := t.NBytes()
		if err != nil {
			return fmt.Errorf("save hugging face checkpoint %s: %w", dir, err)
		}
		if len(shards) == 0 || (size > 0 && size+n > shardBytes) {
			shards = append(shards, nil)
			size = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], t)
		size += n
	}
	index := struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{Metadata: map[string]int64{"total_size": 0}, WeightMap: map[string]string{}}
	for k, sh := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, len(shards))
		if err := WriteSafetensorsStream(filepath.Join(dir, name), sh, meta); err != nil {
			return err
		}
		for _, t := range sh {
			n, _ := t.NBytes()
			index.WeightMap[t.Name] = name
			index.Metadata["total_size"] += n
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

package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
)

// The files of the staged pipeline (calibrate → prune shards → assemble).
//
// A statistics directory holds one file per decoder block,
// block-<k>.safetensors (StatsFile), with the statistics of the four
// distinct inputs of the block's linear layers (q/k/v share q_proj's input,
// gate/up share gate_proj's, o_proj and down_proj have their own):
//
//	<owner>.hdiag       F64 [d_in]              Hdiag (sanitized, as methods use it)
//	<owner>.wanda_norm  F64 [d_in]              Wanda's squared norms / n
//	<owner>.h           F64 [d_in·(d_in+1)/2]   upper triangle of H, row by row (full H only)
//
// and in its metadata, under "armor_stats", the StatsHeader: the model's
// identity, the calibration settings and (sequential protocol) the pruned
// blocks it was calibrated through.
//
// A parts directory holds one file per pruned linear layer,
// <layer name>.safetensors (PartFile), with the pruned weight Ŵ ("weight",
// F32 [d_out, d_in], exactly the float32 values the single-process run
// puts in the model) and, for ARMOR, the factorized form ("A", "B",
// "values" F32 and "groups" U8, as in the factorized export); its metadata
// "armor_part" is the PartHeader (the layer's report, the method settings
// and the identity of the statistics it was pruned from).
//
// Both kinds are written atomically and sealed with the SHA-256 of their
// tensors (datasets.WriteSealedSafetensors), so a truncated or damaged file
// is detected when read.
const (
	StatsFormat = "prunebench-armor-stats/1"
	PartFormat  = "prunebench-armor-part/1"
	statsKey    = "armor_stats"
	partKey     = "armor_part"
)

// statsOwners are the projections whose inputs a block's statistics file
// holds, in file order.
var statsOwners = []string{model.ProjQ, model.ProjO, model.ProjGate, model.ProjDown}

// CalibrationSettings are everything the calibration statistics depend on
// besides the model. Two statistics files can be used together, and with a
// given prune run, only when their settings are equal.
type CalibrationSettings struct {
	Protocol Protocol `json:"protocol"`
	// Corpus and Tokenizer are the paths the calibration text and tokenizer
	// were read from (as given; recorded for the report).
	Corpus    string `json:"corpus"`
	Tokenizer string `json:"tokenizer"`
	Windows   int    `json:"windows"`
	Length    int    `json:"length"`
	// Chunk is how many windows went through a block at once (it changes
	// the rounding of the accumulated sums).
	Chunk int `json:"chunk_windows"`
	// FullH says whether H itself was accumulated; Gram is the precision of
	// its Gram products (methods.Accumulator.SetGramPrecision).
	FullH bool              `json:"full_h"`
	Gram  methods.Precision `json:"gram_precision"`
	// Tokens is the SHA-256 of the calibration windows' token ids.
	Tokens string `json:"tokens_sha256"`
}

// StatsHeader is the metadata of one block's statistics file.
type StatsHeader struct {
	Format   string              `json:"format"`
	Model    string              `json:"model"`
	ModelID  string              `json:"model_id"`
	Settings CalibrationSettings `json:"settings"`
	Block    int                 `json:"block"`
	NBlocks  int                 `json:"n_blocks"`
	// Rows is the number of activation rows (tokens) each input saw.
	Rows    int     `json:"rows"`
	Seconds float64 `json:"seconds"`
	// Upstream is set for a block > 0 calibrated with the sequential
	// protocol: the pruned blocks < Block its inputs went through.
	Upstream *Upstream `json:"upstream,omitempty"`
}

// Upstream identifies the pruned blocks a sequential calibration ran
// through: the settings they were pruned with and a digest of their parts.
type Upstream struct {
	Method MethodSettings `json:"method"`
	Parts  string         `json:"parts_sha256"`
}

// MethodSettings are everything a pruned layer depends on besides its
// weights and statistics.
type MethodSettings struct {
	Method   string         `json:"method"`
	Protocol Protocol       `json:"protocol"`
	Config   methods.Config `json:"config"`
	// Hessian: the layer's output error was computed from the full H.
	Hessian bool `json:"hessian"`
}

// newMethodSettings normalizes the settings of a run: ARMOR's thread count
// does not change results and is left out.
func newMethodSettings(method string, proto Protocol, cfg methods.Config, hessian bool) MethodSettings {
	cfg.ARMOR.Threads = 0
	return MethodSettings{Method: method, Protocol: proto, Config: cfg, Hessian: hessian}
}

// PartHeader is the metadata of one pruned layer's file.
type PartHeader struct {
	Format   string         `json:"format"`
	Layer    LayerReport    `json:"layer"`
	Settings MethodSettings `json:"settings"`
	// ModelID, Calibration and CalibrationRows identify the statistics the
	// layer was pruned from; StatsSeal is the seal of their file and
	// Upstream that file's upstream (sequential protocol).
	ModelID         string              `json:"model_id"`
	Calibration     CalibrationSettings `json:"calibration"`
	CalibrationRows int                 `json:"calibration_rows"`
	CalSeconds      float64             `json:"calibration_seconds"`
	StatsSeal       string              `json:"stats_sha256"`
	Upstream        *Upstream           `json:"upstream,omitempty"`
	// Factored describes ARMOR's factorized form (nil for other methods).
	Factored *PartFactored `json:"factored,omitempty"`
}

// PartFactored is the shape information of a factorized layer's tensors.
type PartFactored struct {
	BlockSize int   `json:"block_size"`
	OutBlocks []int `json:"out_blocks"`
	InBlocks  []int `json:"in_blocks"`
}

// StatsFile is the path of block k's statistics in dir.
func StatsFile(dir string, k int) string {
	return filepath.Join(dir, fmt.Sprintf("block-%04d.safetensors", k))
}

// PartFile is the path of layer name's part in dir.
func PartFile(dir, name string) string { return filepath.Join(dir, name+".safetensors") }

// tokensDigest hashes calibration windows (their lengths and token ids).
func tokensDigest(windows [][]int) string {
	h := sha256.New()
	var b [8]byte
	for _, w := range windows {
		binary.LittleEndian.PutUint64(b[:], uint64(len(w)))
		h.Write(b[:])
		for _, t := range w {
			binary.LittleEndian.PutUint64(b[:], uint64(t))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ModelID identifies the model at path (any format LoadModel reads) by a
// fingerprint of its files (datasets.FingerprintFiles): the checkpoint file,
// or every file of the model's directory.
func ModelID(path string) (string, error) {
	_, target, err := DetectFormat(path)
	if err != nil {
		return "", err
	}
	id, err := datasets.FingerprintFiles(target)
	if err != nil {
		return "", fmt.Errorf("model %s: %w", path, err)
	}
	return id, nil
}

// writeStatsFile writes block k's statistics (by owner projection).
func writeStatsFile(path string, hdr StatsHeader, stats map[string]*methods.Stats) error {
	var ts []datasets.Tensor
	for _, owner := range statsOwners {
		s := stats[owner]
		if s == nil {
			return fmt.Errorf("write %s: no statistics of %s's input", path, owner)
		}
		d := len(s.Hdiag)
		for _, v := range []struct {
			suffix string
			x      []float64
		}{{".hdiag", s.Hdiag}, {".wanda_norm", s.WandaNorm}} {
			t, err := datasets.TensorFromFloat64s(owner+v.suffix, datasets.F64, []int{d}, v.x)
			if err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			ts = append(ts, t)
		}
		if hdr.Settings.FullH {
			if s.H == nil {
				return fmt.Errorf("write %s: %s's input has no full H", path, owner)
			}
			t, err := datasets.TensorFromFloat64s(owner+".h", datasets.F64, []int{d * (d + 1) / 2}, packUpper(s.H))
			if err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			ts = append(ts, t)
		}
	}
	meta, err := json.Marshal(hdr)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return datasets.WriteSealedSafetensors(path, ts, map[string]string{statsKey: string(meta)})
}

// packUpper lists the upper triangle of H row by row.
func packUpper(h *mat.SymDense) []float64 {
	raw := h.RawSymmetric()
	out := make([]float64, 0, raw.N*(raw.N+1)/2)
	for i := 0; i < raw.N; i++ {
		out = append(out, raw.Data[i*raw.Stride+i:i*raw.Stride+raw.N]...)
	}
	return out
}

// unpackUpper is packUpper's inverse (the lower triangle stays zero, as in
// the H methods.Accumulator returns).
func unpackUpper(d int, packed []float64) *mat.SymDense {
	h := mat.NewSymDense(d, nil)
	raw := h.RawSymmetric()
	k := 0
	for i := 0; i < d; i++ {
		k += copy(raw.Data[i*raw.Stride+i:i*raw.Stride+d], packed[k:k+d-i])
	}
	return h
}

// readStatsHeader reads the header of a statistics file without its data.
func readStatsHeader(path string) (*StatsHeader, error) {
	h, err := datasets.ReadSafetensorsHeader(path)
	if err != nil {
		return nil, err
	}
	return decodeStatsHeader(path, h.Metadata)
}

func decodeStatsHeader(path string, meta map[string]string) (*StatsHeader, error) {
	raw, ok := meta[statsKey]
	if !ok {
		return nil, fmt.Errorf("%s: not a statistics file (no %q metadata)", path, statsKey)
	}
	var hdr StatsHeader
	if err := json.Unmarshal([]byte(raw), &hdr); err != nil {
		return nil, fmt.Errorf("%s: metadata %q: %w", path, statsKey, err)
	}
	if hdr.Format != StatsFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", path, hdr.Format, StatsFormat)
	}
	return &hdr, nil
}

// readStatsFile reads block statistics (with H only when withH is set)
// and returns them by owner projection, with the header and the file's
// seal. dims gives each owner's d_in.
func readStatsFile(path string, withH bool, dims map[string]int) (map[string]*methods.Stats, *StatsHeader, string, error) {
	f, err := datasets.ReadSealedSafetensors(path)
	if err != nil {
		return nil, nil, "", err
	}
	hdr, err := decodeStatsHeader(path, f.Metadata)
	if err != nil {
		return nil, nil, "", err
	}
	out := map[string]*methods.Stats{}
	for _, owner := range statsOwners {
		d := dims[owner]
		get := func(name string, n int) ([]float64, error) {
			v, shape, err := f.Float64s(name)
			if err != nil {
				return nil, err
			}
			if len(shape) != 1 || len(v) != n {
				return nil, fmt.Errorf("%s: tensor %s has shape %v, want [%d] (statistics of a model with other sizes?)", path, name, shape, n)
			}
			return v, nil
		}
		s := &methods.Stats{N: hdr.Rows}
		if s.Hdiag, err = get(owner+".hdiag", d); err != nil {
			return nil, nil, "", err
		}
		if s.WandaNorm, err = get(owner+".wanda_norm", d); err != nil {
			return nil, nil, "", err
		}
		if withH {
			packed, err := get(owner+".h", d*(d+1)/2)
			if err != nil {
				return nil, nil, "", err
			}
			s.H = unpackUpper(d, packed)
		}
		out[owner] = s
	}
	return out, hdr, f.Metadata[datasets.SealKey], nil
}

// ownerDims are the d_in of each statistics owner of cfg's blocks.
func ownerDims(cfg model.Config) map[string]int {
	return map[string]int{model.ProjQ: cfg.Dim, model.ProjO: cfg.Dim, model.ProjGate: cfg.Dim, model.ProjDown: cfg.HiddenDim}
}

// part is one pruned layer as read from or written to a part file.
type part struct {
	hdr PartHeader
	lin *model.Linear
	fac *Factored
	// seal is the file's SHA-256 seal.
	seal string
}

// writePartFile writes a pruned layer.
func writePartFile(path string, p *part) error {
	var ts []datasets.Tensor
	add := func(t datasets.Tensor, err error) error {
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		ts = append(ts, t)
		return nil
	}
	if err := add(linearTensor("weight", p.lin)); err != nil {
		return err
	}
	if f := p.fac; f != nil {
		for _, v := range []struct {
			name string
			x    []float32
		}{{"A", f.A}, {"B", f.B}, {"values", f.Values}} {
			if err := add(datasets.TensorFromFloat32s(v.name, datasets.F32, []int{len(v.x)}, v.x)); err != nil {
				return err
			}
		}
		if err := add(datasets.TensorFromUint8s("groups", []int{f.DOut, f.DIn / f.Pattern.M}, f.Groups)); err != nil {
			return err
		}
		p.hdr.Factored = &PartFactored{BlockSize: f.BlockSize, OutBlocks: f.OutBlocks, InBlocks: f.InBlocks}
	}
	meta, err := json.Marshal(p.hdr)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return datasets.WriteSealedSafetensors(path, ts, map[string]string{partKey: string(meta)})
}

// readPartFile reads and checks a part file; want is the layer's dense
// shape. A missing file gives an error satisfying errors.Is(err,
// fs.ErrNotExist).
func readPartFile(path string, want *model.Linear) (*part, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	f, err := datasets.ReadSealedSafetensors(path)
	if err != nil {
		return nil, err
	}
	raw, ok := f.Metadata[partKey]
	if !ok {
		return nil, fmt.Errorf("%s: not a layer part (no %q metadata)", path, partKey)
	}
	p := &part{seal: f.Metadata[datasets.SealKey]}
	if err := json.Unmarshal([]byte(raw), &p.hdr); err != nil {
		return nil, fmt.Errorf("%s: metadata %q: %w", path, partKey, err)
	}
	if p.hdr.Format != PartFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", path, p.hdr.Format, PartFormat)
	}
	get := func(name string, n int) ([]float32, error) {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, err
		}
		v, err := datasets.TensorFloat32s(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if n >= 0 && len(v) != n {
			return nil, fmt.Errorf("%s: tensor %s has %d values, want %d", path, name, len(v), n)
		}
		return v, nil
	}
	if p.lin, err = linearFromTensor(f, "weight", want); err != nil {
		return nil, err
	}
	if fm := p.hdr.Factored; fm != nil {
		pat := p.hdr.Settings.Config.Pattern
		fac := &Factored{DOut: want.Out, DIn: want.In, Pattern: pat, BlockSize: fm.BlockSize, OutBlocks: fm.OutBlocks, InBlocks: fm.InBlocks}
		if fac.A, err = get("A", -1); err != nil {
			return nil, err
		}
		if fac.B, err = get("B", -1); err != nil {
			return nil, err
		}
		if fac.Values, err = get("values", -1); err != nil {
			return nil, err
		}
		if fac.Groups, _, err = f.Uint8s("groups"); err != nil {
			return nil, err
		}
		if err := fac.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		p.fac = fac
	}
	return p, nil
}

// partsDigest hashes the seals of the parts of the given layers (in order),
// identifying the pruned blocks a sequential calibration ran through.
func partsDigest(names []string, seals map[string]string) string {
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%s\x00", n, seals[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// settingsDiff names the fields in which two settings values (of the same
// struct type) differ, for error messages: "windows 8 vs 16, ...".
func settingsDiff(a, b any) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := 0; i < va.NumField(); i++ {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if !reflect.DeepEqual(fa, fb) {
			name := strings.Split(va.Type().Field(i).Tag.Get("json"), ",")[0]
			out = append(out, fmt.Sprintf("%s %v vs %v", name, fa, fb))
		}
	}
	return strings.Join(out, ", ")
}

// isNotExist reports whether err says a file does not exist.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// linearTensor is a pruned layer's weight as a tensor in its storage
// dtype: F32, or the 16-bit format's bytes as they are.
func linearTensor(name string, l *model.Linear) (datasets.Tensor, error) {
	if !l.IsHalf() {
		return datasets.TensorFromFloat32s(name, datasets.F32, []int{l.Out, l.In}, l.W)
	}
	dt, ok := halfDTypes[l.HalfKind]
	if !ok {
		return datasets.Tensor{}, fmt.Errorf("tensor %s: unknown half-precision kind %v", name, l.HalfKind)
	}
	t := datasets.Tensor{Name: name, DType: dt, Shape: []int{l.Out, l.In}, Data: l.Half}
	return t, t.Validate()
}

// linearFromTensor reads a pruned layer written by linearTensor: it must
// have the shape of the dense layer want and the storage it would get
// (storeLike), and takes want's bias, which pruning does not change.
func linearFromTensor(f *datasets.File, name string, want *model.Linear) (*model.Linear, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, err
	}
	if len(t.Shape) != 2 || t.Shape[0] != want.Out || t.Shape[1] != want.In {
		return nil, fmt.Errorf("%s: tensor %s has shape %v, the layer is %d×%d (a part of another model?)", f.Path, name, t.Shape, want.Out, want.In)
	}
	wantDT := datasets.F32
	if want.IsHalf() {
		wantDT = halfDTypes[want.HalfKind]
	}
	if t.DType != wantDT {
		return nil, fmt.Errorf("%s: tensor %s is %s, the model's layer is stored as %s (a part of another model?)", f.Path, name, t.DType, wantDT)
	}
	var l *model.Linear
	if want.IsHalf() {
		l = model.NewHalfLinear(want.Out, want.In, want.HalfKind, t.Data)
	} else {
		v, err := datasets.TensorFloat32s(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		l = &model.Linear{Out: want.Out, In: want.In, W: v}
	}
	l.Bias = want.Bias
	return l, nil
}

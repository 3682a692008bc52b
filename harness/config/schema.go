package config

// Config is one experiment: where its layers come from, which methods and
// settings to sweep, and what to report. Load fills in defaults for every
// optional key; Defaults lists them.
type Config struct {
	// Experiment names the experiment; results go to OutputDir/Experiment.
	Experiment string `yaml:"experiment"`
	// Description is free text copied into the results.
	Description string `yaml:"description"`
	// OutputDir is the results root (default "results"), relative to the
	// working directory.
	OutputDir string `yaml:"output_dir"`
	// Source says where the layers come from; exactly one kind is set.
	Source Source `yaml:"source"`
	// Calibration describes the calibration text (model sources only).
	Calibration Calibration `yaml:"calibration"`

	// Methods is the method axis: magnitude, wanda, sparsegpt, nowag, armor.
	Methods []string `yaml:"methods"`
	// Pattern is the N:M axis, e.g. ["2:4"] (default).
	Pattern []string `yaml:"pattern"`
	// Seed is the random-seed axis (ARMOR's group selection); default [0].
	Seed []uint64 `yaml:"seed"`
	// Layers selects layers of the source by name, with shell globs
	// ("layers.*.q_proj"); empty or absent means every layer.
	Layers []string `yaml:"layers"`

	// ARMOR holds ARMOR's axes.
	ARMOR ARMOR `yaml:"armor"`
	// SparseGPT holds SparseGPT's (scalar) settings.
	SparseGPT SparseGPT `yaml:"sparsegpt"`

	// Evaluation says what to measure besides proxy loss and output error.
	Evaluation Evaluation `yaml:"evaluation"`
	// Run controls the worker pool.
	Run Run `yaml:"run"`
	// Outputs selects tables, plots and formats.
	Outputs Outputs `yaml:"outputs"`

	// File is the path the config was read from (not a YAML key).
	File string `yaml:"-"`
	// Overrides are the key=value overrides that were applied (not a YAML key).
	Overrides []string `yaml:"-"`
	// pos maps key paths to their line (0 for overrides).
	pos map[string]int
}

// Source is where the layers come from. Exactly one field is set.
type Source struct {
	Synthetic   *Synthetic   `yaml:"synthetic"`
	Safetensors *Safetensors `yaml:"safetensors"`
	Model       *Model       `yaml:"model"`
}

// Kind returns "synthetic", "safetensors", "model" or "" when none is set.
func (s Source) Kind() string {
	switch {
	case s.Synthetic != nil:
		return "synthetic"
	case s.Safetensors != nil:
		return "safetensors"
	case s.Model != nil:
		return "model"
	}
	return ""
}

// Synthetic generates heavy-tailed layers with outlier input channels, like
// the reference fixtures: W = Scale·StudentT(4), activations N(0,1) times
// per-channel scales exp(0.3·N(0,1)), Outliers channels of which are
// multiplied by U(OutlierMin, OutlierMax).
type Synthetic struct {
	Seed       uint64  `yaml:"seed"`
	Samples    int     `yaml:"samples"`
	Scale      float64 `yaml:"scale"`
	Outliers   int     `yaml:"outliers"`
	OutlierMin float64 `yaml:"outlier_min"`
	OutlierMax float64 `yaml:"outlier_max"`
	Shapes     []Shape `yaml:"shapes"`
}

// Shape is one synthetic layer.
type Shape struct {
	Name string `yaml:"name"`
	DOut int    `yaml:"d_out"`
	DIn  int    `yaml:"d_in"`
}

// Safetensors reads layers from files holding W and X (or hessian_diag/H),
// as datasets.ReadLayerFile does. Paths are relative to the config file.
type Safetensors struct {
	Files []string `yaml:"files"`
}

// Model takes layers from a Llama checkpoint: every projection in
// Projections of every block in Layers, with activations collected on the
// calibration text.
type Model struct {
	Checkpoint  string   `yaml:"checkpoint"`
	Tokenizer   string   `yaml:"tokenizer"`
	Layers      []int    `yaml:"layers"`
	Projections []string `yaml:"projections"`
	// Fallback is what to do when the model cannot be used: "error"
	// (default) or "builtin", the embedded Llama-like synthetic layer set.
	Fallback string `yaml:"fallback"`
	// DataRoot is a local mirror (models/…, text/…) under which checkpoint,
	// tokenizer and corpora are looked for when their paths do not exist;
	// $ARMOR_DATA is used when it is empty.
	DataRoot string `yaml:"data_root"`
}

// Calibration is the text the activations are collected on.
type Calibration struct {
	Corpus    string `yaml:"corpus"`
	Sequences int    `yaml:"sequences"`
	Length    int    `yaml:"length"`
	Seed      uint64 `yaml:"seed"`
}

// ARMOR holds ARMOR's sweep axes; each is a list, and each is a knob of
// Knobs["armor"], which says what it means to the method and the cell key.
type ARMOR struct {
	BlockSize  []int     `yaml:"block_size"`
	Iters      []int     `yaml:"iters"`
	LR         []float64 `yaml:"lr"`
	Select     []string  `yaml:"select"`
	Continuous []string  `yaml:"continuous"`
	Patience   []int     `yaml:"patience"`
	// GroupsPerTile is how many groups per tile the sparse-core step
	// updates (0: all; default 1).
	GroupsPerTile []int `yaml:"groups_per_tile"`
	// Precision is the storage type of the adam variant's working set:
	// float64 (default) or float32; gd and exact always run in float64.
	Precision []string `yaml:"precision"`
}

// SparseGPT holds SparseGPT's settings, the knobs of Knobs["sparsegpt"].
type SparseGPT struct {
	LazyBlock int     `yaml:"lazy_block"`
	Damp      float64 `yaml:"damp"`
	// Precision is the storage type of SparseGPT's factorization and column
	// loop: float64 (default) or float32 (methods.SparseGPTConfig.Precision).
	// It is a single setting, not an axis. The layer statistics (H) are
	// shared by every method of a sweep and stay float64.
	Precision string `yaml:"precision"`
}

// Evaluation lists extra measurements.
type Evaluation struct {
	// Perplexity lists corpora (paths) to measure perplexity on; model
	// sources only.
	Perplexity []string `yaml:"perplexity"`
	// MaxWindows caps the perplexity windows (of 256 tokens) per corpus;
	// 0 evaluates every window. $ARMOR_EVAL_MAX_WINDOWS overrides it.
	MaxWindows int `yaml:"max_windows"`
}

// Run controls execution.
type Run struct {
	// Workers is the number of cells run at once (0: all cores).
	Workers int `yaml:"workers"`
}

// Outputs selects what `armor sweep` and `armor tables` write.
type Outputs struct {
	Tables      []string `yaml:"tables"`
	Formats     []string `yaml:"formats"`
	Plots       []string `yaml:"plots"`
	PlotFormats []string `yaml:"plot_formats"`
	// ReportBlockSize and ReportIters choose the ARMOR cell shown in the
	// per-layer table (0: the first block size, the largest budget).
	ReportBlockSize int `yaml:"report_block_size"`
	ReportIters     int `yaml:"report_iters"`
	// Cost adds the deployment cost columns (stored bytes relative to dense,
	// measured batch-1 decode speedup) to the layer and block-size tables;
	// nil (absent) means true. Measured speedups are kept in cost.json.
	Cost *bool `yaml:"cost"`
}

// CostEnabled reports whether the tables get cost columns (outputs.cost,
// default true).
func (o Outputs) CostEnabled() bool { return o.Cost == nil || *o.Cost }

// Known values of the enumerated keys.
var (
	KnownTables      = []string{"layers", "block_size", "iters", "perplexity"}
	KnownFormats     = []string{"markdown", "csv", "latex"}
	KnownPlots       = []string{"loss_vs_iter", "loss_vs_block", "layer_loss", "ppl_vs_params"}
	KnownPlotFormats = []string{"png", "svg"}
	KnownSelect      = []string{"gradient", "greedy", "random"}
	KnownContinuous  = []string{"adam", "gd", "exact"}
	KnownPrecision   = []string{"float64", "float32"}
	KnownProjections = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	KnownFallbacks   = []string{"error", "builtin"}
)

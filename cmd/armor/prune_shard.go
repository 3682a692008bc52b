package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/prunebench/armor/pipeline"
)

// shardFlags are prune's staged mode: prune one shard of the layers from
// saved statistics into layer parts.
type shardFlags struct {
	stats, layers *string
}

// addShardFlags registers --stats and --layers.
func addShardFlags(fs *flag.FlagSet) *shardFlags {
	return &shardFlags{
		stats:  fs.String("stats", "", "staged mode: prune from the statistics `armor calibrate` wrote in this directory; --out is then the directory of layer parts (one file per layer; finished layers are skipped)"),
		layers: fs.String("layers", "", "staged mode: prune shard i/n of the layers (0 ≤ i < n; default 0/1, all)"),
	}
}

// active reports whether the staged mode was asked for.
func (s *shardFlags) active() bool { return *s.stats != "" || *s.layers != "" }

// runPruneShard is `armor prune --stats STATS --layers i/n --out PARTS`.
func runPruneShard(fs *flag.FlagSet, in *inputFlags, mf *methodFlags, sf *shardFlags, out string, layerErrors, verbose bool, workers int, maxMemory int64, stdout, stderr io.Writer) error {
	if *sf.stats == "" {
		return fmt.Errorf("flag --layers needs --stats (the directory armor calibrate wrote)")
	}
	if out == "" {
		return fmt.Errorf("flag --out is required with --stats: the directory of the layer parts")
	}
	spec := *sf.layers
	if spec == "" {
		spec = "0/1"
	}
	shard, shards, err := parseShardFlag("layers", spec)
	if err != nil {
		return err
	}
	for _, name := range []string{"wikitext", "window", "max-windows", "no-dense", "no-eval", "in-place", "dtype", "shard-size", "spill-dir"} {
		if visited(fs, name) {
			return fmt.Errorf("flag --%s does not apply with --stats (the parts are evaluated and exported by armor assemble)", name)
		}
	}
	cfg, proto, err := mf.config(true)
	if err != nil {
		return err
	}
	if err := in.resolve(false, false); err != nil {
		return err
	}
	m, _, err := pipeline.LoadModel(*in.model)
	if err != nil {
		return err
	}
	id, err := pipeline.ModelID(*in.model)
	if err != nil {
		return err
	}
	opt := pipeline.ShardOptions{Method: *mf.method, Config: cfg, Protocol: proto,
		Hessian: layerErrors, HessianSet: visited(fs, "layer-errors"),
		Shard: shard, Shards: shards, Workers: workers, MaxMemory: maxMemory}
	if verbose {
		opt.Log = func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }
	}
	if err := checkCalibrationFlags(fs, in, *sf.stats); err != nil {
		return err
	}
	res, err := pipeline.PruneShard(m, id, *sf.stats, out, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "shard %d/%d: %d layers: %d pruned (%d damaged parts redone), %d already done\n",
		shard, shards, len(res.Layers), len(res.Pruned), len(res.Redone), len(res.Skipped))
	return json.NewEncoder(stdout).Encode(struct {
		Shard   string   `json:"shard"`
		Layers  []string `json:"layers"`
		Pruned  []string `json:"pruned"`
		Skipped []string `json:"skipped"`
		Redone  []string `json:"redone,omitempty"`
	}{spec, res.Layers, res.Pruned, res.Skipped, res.Redone})
}

// checkCalibrationFlags refuses calibration flags given explicitly that
// disagree with the statistics in dir.
func checkCalibrationFlags(fs *flag.FlagSet, in *inputFlags, dir string) error {
	if !visited(fs, "cal-windows") && !visited(fs, "cal-length") && !visited(fs, "calibration") {
		return nil
	}
	file, st, err := pipeline.ReadCalibrationSettings(dir)
	if err != nil {
		return err
	}
	switch {
	case visited(fs, "cal-windows") && *in.calWindows != st.Windows:
		return fmt.Errorf("%s: calibrated with %d windows, but --cal-windows %d", file, st.Windows, *in.calWindows)
	case visited(fs, "cal-length") && *in.calLength != st.Length:
		return fmt.Errorf("%s: calibrated with windows of %d tokens, but --cal-length %d", file, st.Length, *in.calLength)
	case visited(fs, "calibration") && *in.calText != st.Corpus:
		return fmt.Errorf("%s: calibrated on %s, but --calibration %s", file, st.Corpus, *in.calText)
	}
	return nil
}

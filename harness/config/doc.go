// Package config reads an experiment's YAML file into a validated Config.
//
// Parsing is strict: every key is checked against the schema (Config and the
// types it holds), every scalar against its Go type, and every value against
// what the sweep can run. Each error is a *Error naming the file, the line
// and the key path, e.g.
//
//	configs/llama.yaml:14: armor.blocksize: unknown key (did you mean "block_size"?)
//
// Command-line overrides ("armor.iters=100 seed=1") are applied to the YAML
// tree before validation, so they are checked exactly like the file; errors in
// them are reported as "--set armor.iters: ...".
//
// Sweep axes are lists; a scalar where a list is expected is read as a
// one-element list, so `seed: 1` and `--set seed=1` both work.
//
// Knobs is the one definition of every method setting a config holds: its
// key, how a value reaches the method's configuration (methods.Config), and
// how it is written into a cell key (cells.Params). Defaults come from the
// method's defaults, and whether a value is allowed is decided by the
// method's own Validate (methods.ARMORConfig.Validate,
// methods.SparseGPTConfig.Validate), called on each value alone and on every
// combination of the listed values; the config only adds rules for values
// the method accepts but the sweep must not (a negative patience would make
// a second key for "never stop early"). Adding a setting to a method's sweep
// takes its YAML field in the schema, a cells.Params field when it changes
// the numbers, and one entry in Knobs.
package config

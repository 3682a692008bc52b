// Package sweep expands a config into cells and runs them.
//
// Plan takes the Cartesian product of the config's axes — layers × patterns
// × methods × each method's own knobs (config.Knobs) — so a method is not
// repeated along an axis it ignores: only ARMOR varies with block size,
// iterations, seed, learning rate, selection rule, continuous rule,
// patience, groups per tile and precision, and SparseGPT's knobs are single
// settings. Combinations the method's own Validate rejects are not planned.
// Every job carries the key of its cell (package cells), a hash of
// everything that determines its numbers, including Version; the keys of the
// shipped configs are pinned by testdata/cell_keys.golden.
//
// Run executes the jobs not yet in the store on a worker pool, appending
// each finished cell at once, so an interrupted sweep resumes where it
// stopped. Results do not depend on the number of workers: each method call
// is deterministic, and ARMOR is run with one kernel thread per worker when
// several workers share the cores (its results do not depend on threads).
package sweep

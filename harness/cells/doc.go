// Package cells stores the results of a sweep: one JSON object per line in
// cells.jsonl, one line per cell, keyed by a hash of everything that
// determines the cell's numbers.
//
// Appends are crash-safe: each cell is one write of one complete line
// followed by fsync, so a killed run leaves at most a torn last line, which
// Open truncates away before appending again. Merge combines shard files,
// dropping duplicates and refusing cells whose numbers disagree.
package cells

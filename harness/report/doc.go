// Package report turns stored cells into the paper-style tables and writes
// them as Markdown (via tablewriter), CSV and LaTeX (booktabs):
//
//  1. layers — per-layer proxy loss and output error, methods as columns,
//     the best value of each row marked;
//  2. block_size — ARMOR's loss by block size b, with NoWag-P as the b = 0
//     reference row and the wrappers' parameter overhead;
//  3. iters — ARMOR's mean loss by iteration budget, one column per b;
//  4. perplexity — perplexity per corpus of the dense and pruned models, with
//     "gap closed" = (best baseline − ARMOR)/(best baseline − dense) and the
//     parameter count relative to dense.
//
// Tables are built from cells alone, so `armor tables` re-renders them
// without recomputing anything.
package report

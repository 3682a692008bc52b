// Package pipeline prunes whole Llama models: it streams calibration text
// through the model one decoder block at a time, accumulates the statistics
// of every linear layer's input (hdiag, Wanda's norms and, when a method or
// the caller needs it, the full H = (2/n) Σ x xᵀ), prunes the seven linear
// layers of the block with one method of package methods, and moves on.
//
// Two calibration protocols are implemented (Protocol):
//
//   - dense: every statistic comes from the unpruned model. Block i's
//     statistics are gathered while its dense output h_{i+1} = Block_i(h_i)
//     is computed, before block i is pruned, so the hidden states that
//     reach block i+1 are the dense model's (NoWag-P's and ARMOR's protocol).
//   - sequential: block i is pruned, then its output is recomputed with the
//     pruned weights, so block i+1 is calibrated on the inputs the pruned
//     model really produces (SparseGPT's and Wanda's protocol). Within a
//     block, all seven layers see the block's dense weights, as in the
//     reference implementations.
//
// Only the hidden states of the calibration windows (windows × length ×
// d_model float32) and one block's accumulators are held at once; see
// MemoryEstimate.
//
// The package also evaluates perplexity with the project's text protocol
// (Texts, Evaluate), counts the parameters a pruned model stores
// (ParamCount), and exports and reloads pruned models in Hugging Face
// layout, including ARMOR's factorized form (Export, Load).
package pipeline

// Package model implements the numerics of a Llama-architecture decoder-only
// transformer (Llama 2 / llama2.c): token embedding, a stack of pre-norm
// decoder blocks (RMSNorm → grouped-query causal self-attention with rotary
// position embeddings → residual; RMSNorm → SwiGLU MLP → residual), a final
// RMSNorm and a (tied or untied) classifier.
//
// The package does no file I/O; loaders live in package datasets.
//
// Precision: weights and activations are stored as float32, because that is
// the precision of the checkpoints, it halves memory relative to float64 and
// the matrix products go through gonum's single-precision BLAS (blas32.Gemm).
// Every reduction whose error would otherwise grow with its length — the
// RMSNorm sum of squares, the softmax normaliser, the log-sum-exp of the
// logits and the negative log-likelihood totals — is accumulated in float64.
//
// Linear layers are stored row-major as d_out × d_in matrices and compute
// y = W x; per-layer projections are addressable by name
// ("layers.<i>.<proj>", proj one of q_proj, k_proj, v_proj, o_proj,
// gate_proj, up_proj, down_proj) so that a pruning harness can read, observe
// and replace them.
package model

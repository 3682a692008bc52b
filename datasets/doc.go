// Package datasets holds all file I/O of the project: safetensors, checkpoints,
// tokenizers, texts. Other packages work on plain matrices and slices; this
// package turns files into those values and back, and validates every input
// so that a malformed file fails with an error naming the file, the tensor
// or record, and what was expected versus found, never with a panic. The
// safetensors reader and writer (ReadSafetensors, WriteSafetensors) follow the
// format of https://github.com/huggingface/safetensors.
package datasets

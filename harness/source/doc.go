// Package source turns the source section of a config into layers to prune.
//
// A Source lists its layers cheaply (name, shape and an identity string that
// changes whenever the layer's numbers could change) and loads one on
// demand. Three kinds exist:
//
//   - synthetic: layers drawn by package synthetic;
//   - safetensors: files with W and X (or hessian_diag/H), read by
//     datasets.ReadLayerFile; the identity is the file's SHA-256;
//   - model: a Llama checkpoint. Its implementation lives with the model
//     code and plugs in through RegisterModel; until one is registered, or
//     when it fails, a config with `fallback: builtin` runs on Builtin, an
//     embedded Llama-like synthetic layer set, and Note says so.
package source

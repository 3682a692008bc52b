// Package plots draws the sweep's figures with gonum.org/v1/plot, as PNG
// and SVG, from stored cells:
//
//   - loss_vs_iter: ARMOR's mean proxy loss over layers against the
//     iteration, one line per block size, from the recorded histories;
//   - loss_vs_block: mean proxy loss against block size, one line per
//     iteration budget, with NoWag-P as a dashed reference;
//   - layer_loss: proxy loss per layer, grouped bars, one colour per method.
package plots

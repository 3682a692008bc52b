package main

import (
	"context"
	"io"

	"github.com/prunebench/armor/harness/cells"
	"github.com/prunebench/armor/harness/config"
	"github.com/prunebench/armor/harness/modelsource"
	"github.com/prunebench/armor/harness/source"
)

// runModelCells computes the whole-model cells (dense and every method
// pruned on all layers, with perplexity) of a config with a model source
// and evaluation.perplexity; for other configs it does nothing. Importing
// modelsource also registers the model source with the harness.
func runModelCells(ctx context.Context, c *config.Config, src source.Source, done map[string]bool, store *cells.Store, stderr io.Writer) error {
	_, err := modelsource.RunModelCells(ctx, c, src, done, store, stderr)
	return err
}

package main

import (
	"fmt"

	"github.com/prunebench/armor/infer"
	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/pipeline"
)

// loadDeployed loads a model and, unless form is "ref" or "" (the reference
// dense forward), runs its linear layers on infer's operators: "dense", "2:4"
// (every layer must be 2:4, as in an `armor prune --out` hf/ export of a
// 2:4 method) or "auto" (a factorised directory's ARMOR layers as stored,
// other layers compressed when they are 2:4, else dense).
func loadDeployed(path, form, storage string) (*model.Model, string, error) {
	st, err := infer.ParseStorage(storage)
	if err != nil {
		return nil, "", err
	}
	var (
		m       *model.Model
		factors map[string]*pipeline.Factored
		format  string
	)
	if pipeline.IsFactoredDir(path) {
		if m, factors, _, err = pipeline.LoadFactored(path); err != nil {
			return nil, "", err
		}
		format = pipeline.FormatFactored
	} else if m, format, err = pipeline.LoadModel(path); err != nil {
		return nil, "", err
	}
	p := methods.Pattern24
	switch form {
	case "", "ref":
		return m, format, nil
	case "dense":
		err = infer.Convert(m, factors, infer.Options{Storage: st})
	case "2:4":
		err = infer.Convert(m, factors, infer.Options{Storage: st, Sparse: &p})
	case "auto":
		err = convertMixed(m, factors, st)
	default:
		return nil, "", fmt.Errorf("--deploy %q: want dense, 2:4 or auto", form)
	}
	if err != nil {
		return nil, "", fmt.Errorf("model %s: %w", path, err)
	}
	return m, format, nil
}

// convertMixed compresses each layer that is 2:4 and keeps the others dense.
func convertMixed(m *model.Model, factors map[string]*pipeline.Factored, st infer.Storage) error {
	w := m.Weights()
	for _, name := range w.LinearNames() {
		l, _ := w.Linear(name)
		var op infer.Operator
		var err error
		if f := factors[name]; f != nil {
			op, err = infer.FromFactored(name, f, st)
		} else if c, cerr := infer.Compress(name, l.Float32s(), l.Out, l.In, methods.Pattern24, st); cerr == nil {
			op, err = infer.NewSparse(name, c)
		} else {
			op, err = infer.NewDense(name, l.Float32s(), l.Out, l.In, st)
		}
		if err != nil {
			return err
		}
		if err := w.SetOperator(name, op); err != nil {
			return err
		}
	}
	return nil
}

package model

import (
	"fmt"
	"strconv"
	"strings"
)

// Projection names of the linear layers in a decoder block (Hugging Face
// naming). The llama2.c fields they denote are given in brackets.
const (
	ProjQ    = "q_proj"    // [Wq] query
	ProjK    = "k_proj"    // [Wk] key
	ProjV    = "v_proj"    // [Wv] value
	ProjO    = "o_proj"    // [Wo] attention output
	ProjGate = "gate_proj" // [W1] MLP gate
	ProjUp   = "up_proj"   // [W3] MLP up
	ProjDown = "down_proj" // [W2] MLP down
)

// Projections lists the projection names of a block in forward-pass order.
var Projections = []string{ProjQ, ProjK, ProjV, ProjO, ProjGate, ProjUp, ProjDown}

// LinearName returns the name "layers.<layer>.<proj>" of a block projection.
func LinearName(layer int, proj string) string {
	return "layers." + strconv.Itoa(layer) + "." + proj
}

// ParseLinearName splits "layers.<i>.<proj>" into its layer index and
// projection name, checking that proj is one of Projections.
func ParseLinearName(name string) (layer int, proj string, err error) {
	rest, ok := strings.CutPrefix(name, "layers.")
	if !ok {
		return 0, "", fmt.Errorf("linear name %q: want layers.<i>.<proj>", name)
	}
	idx, proj, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, "", fmt.Errorf("linear name %q: want layers.<i>.<proj>", name)
	}
	layer, err = strconv.Atoi(idx)
	if err != nil || layer < 0 || strconv.Itoa(layer) != idx {
		return 0, "", fmt.Errorf("linear name %q: bad layer index %q", name, idx)
	}
	for _, p := range Projections {
		if p == proj {
			return layer, proj, nil
		}
	}
	return 0, "", fmt.Errorf("linear name %q: unknown projection %q (want one of %s)", name, proj, strings.Join(Projections, ", "))
}

// slot returns the address of the field holding projection proj, or nil.
func (l *Layer) slot(proj string) **Linear {
	switch proj {
	case ProjQ:
		return &l.Wq
	case ProjK:
		return &l.Wk
	case ProjV:
		return &l.Wv
	case ProjO:
		return &l.Wo
	case ProjGate:
		return &l.W1
	case ProjUp:
		return &l.W3
	case ProjDown:
		return &l.W2
	}
	return nil
}

// Projection returns the linear layer of projection proj (nil for an
// unknown name).
func (l *Layer) Projection(proj string) *Linear {
	if p := l.slot(proj); p != nil {
		return *p
	}
	return nil
}

// SetProjection stores lin in the field of l that holds projection proj
// (q_proj … down_proj), without shape checks: for loaders that fill an empty
// layer. Weights.SetLinear is the checked way to replace a layer's weight.
func (l *Layer) SetProjection(proj string, lin *Linear) error {
	p := l.slot(proj)
	if p == nil {
		return fmt.Errorf("unknown projection %q (want one of %s)", proj, strings.Join(Projections, ", "))
	}
	*p = lin
	return nil
}

// LinearNames lists the names of all block projections, layer by layer in
// forward-pass order. The classifier is not included: pruning protocols
// leave it (and the embedding) dense.
func (w *Weights) LinearNames() []string {
	names := make([]string, 0, len(w.Layers)*len(Projections))
	for i := range w.Layers {
		for _, p := range Projections {
			names = append(names, LinearName(i, p))
		}
	}
	return names
}

// Linear returns the layer called name (see LinearNames). The returned
// pointer aliases the model's weights.
func (w *Weights) Linear(name string) (*Linear, error) {
	i, p, err := ParseLinearName(name)
	if err != nil {
		return nil, err
	}
	if i >= len(w.Layers) {
		return nil, fmt.Errorf("linear %q: layer %d out of range (model has %d layers)", name, i, len(w.Layers))
	}
	return *w.Layers[i].slot(p), nil
}

// SetLinear replaces the layer called name by l, which must have the same
// shape as the layer it replaces.
func (w *Weights) SetLinear(name string, l *Linear) error {
	old, err := w.Linear(name)
	if err != nil {
		return err
	}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("set %s: %w", name, err)
	}
	if old != nil && (old.Out != l.Out || old.In != l.In) {
		return fmt.Errorf("set %s: shape %d×%d does not match the current %d×%d", name, l.Out, l.In, old.Out, old.In)
	}
	i, p, _ := ParseLinearName(name)
	*w.Layers[i].slot(p) = l
	return nil
}

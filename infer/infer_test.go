package infer

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prunebench/armor/methods"
	"github.com/prunebench/armor/pipeline"
)

// randNM returns a random out × in matrix with at most N nonzeros per group
// of M (some groups with fewer).
func randNM(r *rand.Rand, out, in int, p methods.Pattern) []float32 {
	w := make([]float32, out*in)
	for g := 0; g < out*in/p.M; g++ {
		perm := r.Perm(p.M)
		keep := p.N - r.IntN(2)
		for _, k := range perm[:keep] {
			w[g*p.M+k] = float32(r.NormFloat64())
		}
	}
	return w
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func bitsEqual(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: entry %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

var p38 = methods.Pattern{N: 3, M: 8}

func TestCompressRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		p       methods.Pattern
		out, in int
	}{{methods.Pattern24, 3, 4}, {methods.Pattern24, 5, 172}, {methods.Pattern24, 2, 64}, {p38, 4, 40}, {methods.Pattern{N: 1, M: 2}, 3, 10}} {
		w := randNM(r, c.out, c.in, c.p)
		clear(w[:c.p.M])
		w[0] = float32(math.Copysign(0, -1)) // −0 is a stored value, kept bitwise
		cm, err := Compress("w", w, c.out, c.in, c.p, F32)
		if err != nil {
			t.Fatal(err)
		}
		if err := cm.Validate("w"); err != nil {
			t.Fatal(err)
		}
		bitsEqual(t, c.p.String()+" round trip", cm.Dense(), w)
		if got, want := cm.len(), c.out*c.in*c.p.N/c.p.M; got != want {
			t.Errorf("%s: %d kept values, want %d", c.p, got, want)
		}
		if c.p == methods.Pattern24 && cm.MetaStride() != (c.in+7)/8 {
			t.Errorf("2:4 metadata stride %d, want %d (2 bits per kept value)", cm.MetaStride(), (c.in+7)/8)
		}
		hb, err := Compress("w", w, c.out, c.in, c.p, BF16)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, len(w))
		for i, v := range w {
			want[i] = math.Float32frombits((math.Float32bits(v) + 0x7fff + (math.Float32bits(v)>>16)&1) &^ 0xffff)
		}
		bitsEqual(t, c.p.String()+" bf16 round trip", hb.Dense(), want)
	}
}

func TestBadInput(t *testing.T) {
	w := make([]float32, 2*8)
	w[8+1], w[8+2], w[8+3] = 1, 2, 3 // row 1, inputs 0–3: three nonzeros
	if _, err := Compress("layers.0.mlp.up_proj", w, 2, 8, methods.Pattern24, F32); err == nil ||
		!strings.Contains(err.Error(), "layers.0.mlp.up_proj") || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("non-2:4 matrix: err = %v, want one naming the tensor and row 1", err)
	}
	if _, err := Compress("w", make([]float32, 6), 1, 6, methods.Pattern24, F32); err == nil {
		t.Error("d_in 6 with M=4: no error")
	}
	good, _ := Compress("q", randNM(rand.New(rand.NewPCG(2, 2)), 2, 16, methods.Pattern24), 2, 16, methods.Pattern24, F32)
	for _, corrupt := range []func(c *Compressed){
		func(c *Compressed) { c.Meta[2] = 0x00 },         // row 1: positions 0, 0
		func(c *Compressed) { c.Meta[0] = 0b_0001_1011 }, // group 0: positions 3, 2
		func(c *Compressed) { c.Meta = c.Meta[:3] },      // truncated
		func(c *Compressed) { c.F = c.F[:len(c.F)-1] },   // a value short
	} {
		c := *good
		c.Meta = append([]byte(nil), good.Meta...)
		corrupt(&c)
		if _, err := NewSparse("layers.3.self_attn.q_proj.groups", &c); err == nil || !strings.Contains(err.Error(), "layers.3.self_attn.q_proj.groups") {
			t.Errorf("corrupted metadata: err = %v, want one naming the tensor", err)
		}
	}
	core, _ := Compress("core", make([]float32, 8*16), 8, 16, methods.Pattern24, F32)
	if _, err := NewFactored("layers.0.mlp.down_proj", []int{4, 4}, make([]float32, 32), []int{8, 4}, make([]float32, 80), core, F32); err == nil ||
		!strings.Contains(err.Error(), "layers.0.mlp.down_proj.B") {
		t.Errorf("B blocks summing to 12 for d_in 16: err = %v, want one naming layers.0.mlp.down_proj.B", err)
	}
	if _, err := NewFactored("l", []int{4, 4}, make([]float32, 31), []int{8, 8}, make([]float32, 128), core, F32); err == nil || !strings.Contains(err.Error(), "l.A") {
		t.Errorf("A with 31 values for blocks 4,4: err = %v", err)
	}
}

// TestSparseEqualsDenseMasked: a compressed layer gives bitwise what the
// dense operator gives on its masked matrix, for decode (1 row) and
// batches, every tail, both storages and a general pattern.
func TestSparseEqualsDenseMasked(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, p := range []methods.Pattern{methods.Pattern24, p38} {
		for _, shape := range [][2]int{{7, 8}, {33, 40}, {70, 172}, {65, 256}, {40, 1032}} {
			out, in := shape[0], shape[1]
			if in%p.M != 0 {
				continue
			}
			w := randNM(r, out, in, p)
			for _, s := range []Storage{F32, BF16} {
				c, err := Compress("w", w, out, in, p, s)
				if err != nil {
					t.Fatal(err)
				}
				sp, err := NewSparse("w", c)
				if err != nil {
					t.Fatal(err)
				}
				dm := c.Dense()
				d, _ := NewDense("w", dm, out, in, F32)
				for _, rows := range []int{1, 3, 17} {
					x := randVec(r, rows*in)
					ys, yd := make([]float32, rows*out), make([]float32, rows*out)
					sp.Apply(x, rows, ys)
					d.Apply(x, rows, yd)
					bitsEqual(t, p.String()+" "+s.String(), ys, yd)
					// The float64 product, loosely.
					for i := 0; i < rows; i++ {
						for o := 0; o < out; o++ {
							var ref float64
							for k := 0; k < in; k++ {
								ref += float64(dm[o*in+k]) * float64(x[i*in+k])
							}
							if math.Abs(float64(ys[i*out+o])-ref) > 1e-4*(1+math.Abs(ref)) {
								t.Fatalf("%s %v row %d out %d: %v, float64 %v", p, shape, i, o, ys[i*out+o], ref)
							}
						}
					}
				}
			}
		}
	}
}

// randFactored builds an exported ARMOR layer with random blocks.
func randFactored(r *rand.Rand, out, in, b int) *pipeline.Factored {
	f := &pipeline.Factored{DOut: out, DIn: in, Pattern: methods.Pattern24, BlockSize: b,
		OutBlocks: methods.BlockSizes(out, b), InBlocks: methods.BlockSizes(in, b)}
	for _, s := range f.OutBlocks {
		f.A = append(f.A, randVec(r, s*s)...)
	}
	for _, s := range f.InBlocks {
		f.B = append(f.B, randVec(r, s*s)...)
	}
	for g := 0; g < out*in/4; g++ {
		perm := r.Perm(4)
		var m uint8
		for _, k := range perm[:2-r.IntN(2)] {
			m |= 1 << k
		}
		f.Groups = append(f.Groups, m)
		for k := 0; k < 4; k++ {
			if m&(1<<k) != 0 {
				f.Values = append(f.Values, float32(r.NormFloat64()))
			}
		}
	}
	return f
}

func TestFactoredMatchesDense(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, c := range [][3]int{{16, 32, 8}, {48, 172, 32}, {96, 64, 40}} {
		f := randFactored(r, c[0], c[1], c[2])
		op, err := FromFactored("l", f, F32)
		if err != nil {
			t.Fatal(err)
		}
		lin, err := f.Dense()
		if err != nil {
			t.Fatal(err)
		}
		for _, rows := range []int{1, 9} {
			x := randVec(r, rows*c[1])
			y := make([]float32, rows*c[0])
			op.Apply(x, rows, y)
			for i := range rows {
				for o := range c[0] {
					var ref float64
					for k := range c[1] {
						ref += float64(lin.W[o*c[1]+k]) * float64(x[i*c[1]+k])
					}
					if d := math.Abs(float64(y[i*c[0]+o]) - ref); d > 1e-3*(1+math.Abs(ref)) {
						t.Fatalf("%v rows %d: y[%d,%d] = %v, A·S·B·x = %v", c, rows, i, o, y[i*c[0]+o], ref)
					}
				}
			}
		}
		if want := int64(4*(len(f.A)+len(f.B)+c[0]*c[1]/2) + c[0]*((c[1]+7)/8)); op.StoredBytes() != want {
			t.Errorf("%v: stored %d bytes, want %d", c, op.StoredBytes(), want)
		}
	}
}

func TestDeterministicAcrossThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	w := randNM(r, 300, 512, methods.Pattern24)
	c, _ := Compress("w", w, 300, 512, methods.Pattern24, F32)
	sp, _ := NewSparse("w", c)
	d, _ := NewDense("w", w, 300, 512, BF16)
	fa, _ := FromFactored("f", randFactored(r, 256, 512, 64), F32)
	defer SetThreads(SetThreads(1))
	for _, op := range []Operator{sp, d, fa} {
		out, in := op.Dims()
		for _, rows := range []int{1, 20} {
			x := randVec(r, rows*in)
			var first []float32
			for _, th := range []int{1, 2, 3, 5} {
				SetThreads(th)
				y := make([]float32, rows*out)
				op.Apply(x, rows, y)
				if first == nil {
					first = y
				}
				bitsEqual(t, op.Format(), y, first)
			}
		}
	}
}

func TestNoAllocPerCall(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	w := randNM(r, 256, 344, methods.Pattern24)
	c, _ := Compress("w", w, 256, 344, methods.Pattern24, F32)
	sp, _ := NewSparse("w", c)
	d, _ := NewDense("w", w, 256, 344, F32)
	fa, _ := FromFactored("f", randFactored(r, 256, 344, 64), BF16)
	defer SetThreads(SetThreads(2))
	for _, op := range []Operator{sp, d, fa} {
		out, in := op.Dims()
		for _, rows := range []int{1, 12} {
			x, y := randVec(r, rows*in), make([]float32, rows*out)
			op.Apply(x, rows, y) // warm the free lists and workers
			if a := testing.AllocsPerRun(50, func() { op.Apply(x, rows, y) }); a != 0 {
				t.Errorf("%s with %d rows: %v allocations per call", op.Format(), rows, a)
			}
		}
	}
}

func TestStoredBytesMatchesOperators(t *testing.T) {
	d, sp, fa, err := Synthetic(96, 172, 32, F32, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []Operator{d, sp, fa} {
		got, err := StoredBytes(op.Format(), 96, 172, 32)
		if err != nil {
			t.Fatal(err)
		}
		if got != op.StoredBytes() {
			t.Errorf("%s: StoredBytes %d, operator stores %d", op.Format(), got, op.StoredBytes())
		}
	}
	c, err := LayerCost("2:4", 96, 172, 32, false, 0, 0)
	if err != nil || c.BytesVsDense >= 0.6 || c.BytesVsDense <= 0.5 {
		t.Errorf("2:4 cost %+v, %v: want bytes between 0.5 and 0.6 of dense", c, err)
	}
	if _, err := StoredBytes("2:5x", 4, 8, 0); err == nil {
		t.Error("bad format: no error")
	}
}

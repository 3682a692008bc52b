package model

import "fmt"

// Batch is a ragged batch of row vectors, used for hidden states
// (Width = Dim) and logits (Width = VocabSize): sequence b has Lens[b] rows
// (one per token), the rows of all sequences are stored one after the other
// in Data, row-major, so Data has Rows()·Width values.
type Batch struct {
	Lens  []int
	Width int
	Data  []float32
}

// NewBatch returns a zero batch with the given sequence lengths and width.
func NewBatch(lens []int, width int) *Batch {
	n := 0
	for _, l := range lens {
		n += l
	}
	return &Batch{Lens: append([]int(nil), lens...), Width: width, Data: make([]float32, n*width)}
}

// Rows returns the total number of rows, Σ Lens[b].
func (b *Batch) Rows() int {
	n := 0
	for _, l := range b.Lens {
		n += l
	}
	return n
}

// Offset returns the index of the first row of sequence seq, or −1 if seq
// is outside [0, len(Lens)] (len(Lens) gives Rows()).
func (b *Batch) Offset(seq int) int {
	if seq < 0 || seq > len(b.Lens) {
		return -1
	}
	n := 0
	for _, l := range b.Lens[:seq] {
		n += l
	}
	return n
}

// Row returns row t of sequence seq (aliasing Data), or nil if out of
// range or if Data is too short.
func (b *Batch) Row(seq, t int) []float32 {
	if seq < 0 || seq >= len(b.Lens) || t < 0 || t >= b.Lens[seq] {
		return nil
	}
	r := b.Offset(seq) + t
	if (r+1)*b.Width > len(b.Data) {
		return nil
	}
	return b.Data[r*b.Width : (r+1)*b.Width]
}

// Seq returns the Lens[seq] × Width block of sequence seq (aliasing Data),
// or nil if seq is out of range or Data is too short.
func (b *Batch) Seq(seq int) []float32 {
	if seq < 0 || seq >= len(b.Lens) {
		return nil
	}
	o := b.Offset(seq)
	if (o+b.Lens[seq])*b.Width > len(b.Data) {
		return nil
	}
	return b.Data[o*b.Width : (o+b.Lens[seq])*b.Width]
}

// Clone returns a deep copy of b.
func (b *Batch) Clone() *Batch {
	return &Batch{Lens: append([]int(nil), b.Lens...), Width: b.Width, Data: append([]float32(nil), b.Data...)}
}

// validate checks the batch's shape against width w and the context length.
func (b *Batch) validate(w, seqLen int) error {
	if b == nil {
		return fmt.Errorf("batch: nil")
	}
	if b.Width != w {
		return fmt.Errorf("batch: width %d, want %d", b.Width, w)
	}
	if len(b.Lens) == 0 {
		return fmt.Errorf("batch: no sequences")
	}
	for i, l := range b.Lens {
		if l <= 0 {
			return fmt.Errorf("batch: sequence %d has length %d, want > 0", i, l)
		}
		if l > seqLen {
			return fmt.Errorf("batch: sequence %d has length %d, beyond the context length %d", i, l, seqLen)
		}
	}
	if len(b.Data) != b.Rows()*w {
		return fmt.Errorf("batch: %d values, want %d rows × %d", len(b.Data), b.Rows(), w)
	}
	return nil
}

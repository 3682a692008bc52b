package tokenizer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// maxPieceBytes bounds a piece's length in tokenizer.bin, so that a corrupt
// length cannot trigger a huge allocation.
const maxPieceBytes = 1 << 16

// Read parses the llama2.c tokenizer.bin format from r: a little-endian
// int32 max_token_length, then per token a float32 score, an int32 byte
// length and that many bytes. If vocabSize > 0 exactly that many tokens are
// read (trailing bytes are ignored, as llama2.c does); otherwise tokens are
// read until EOF.
func Read(r io.Reader, vocabSize int) (*Tokenizer, error) {
	br := bufio.NewReader(r)
	var maxLen int32
	if err := binary.Read(br, binary.LittleEndian, &maxLen); err != nil {
		return nil, fmt.Errorf("tokenizer.bin: reading max_token_length: %w", noEOF(err))
	}
	if maxLen <= 0 || maxLen > maxPieceBytes {
		return nil, fmt.Errorf("tokenizer.bin: max_token_length %d outside [1, %d]", maxLen, maxPieceBytes)
	}
	var pieces []string
	var scores []float32
	for id := 0; vocabSize <= 0 || id < vocabSize; id++ {
		var hdr [8]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF && vocabSize <= 0 {
				break
			}
			return nil, fmt.Errorf("tokenizer.bin: token %d: reading score and length: %w", id, noEOF(err))
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(hdr[:4]))
		n := int32(binary.LittleEndian.Uint32(hdr[4:]))
		if n <= 0 || n > maxLen {
			return nil, fmt.Errorf("tokenizer.bin: token %d: length %d outside [1, max_token_length %d]", id, n, maxLen)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("tokenizer.bin: token %d: reading %d bytes: %w", id, n, noEOF(err))
		}
		pieces = append(pieces, string(b))
		scores = append(scores, score)
	}
	t, err := New(pieces, scores)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.bin: %w", err)
	}
	return t, nil
}

// noEOF turns a bare io.EOF (end of input inside a record) into
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteTo writes t in the tokenizer.bin format read by Read, with
// max_token_length set to the longest piece.
func (t *Tokenizer) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriter(w)
	var n int64
	put := func(v uint32) {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], v)
		m, _ := bw.Write(b[:])
		n += int64(m)
	}
	put(uint32(int32(t.maxPieceL)))
	for id, p := range t.pieces {
		put(math.Float32bits(t.scores[id]))
		put(uint32(int32(len(p))))
		m, _ := bw.WriteString(p)
		n += int64(m)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("tokenizer.bin: write: %w", err)
	}
	return n, nil
}

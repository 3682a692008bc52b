package datasets

import (
	"fmt"
	"os"
	"strings"

	"github.com/prunebench/armor/tokenizer"
)

// Defaults of the calibration protocol: 128 windows of 256 tokens.
const (
	DefaultCalibrationWindows = 128
	DefaultCalibrationLength  = 256
)

// ReadLines reads a text file as the evaluation protocol's lines: every '\r'
// is removed, the text is split at '\n', and lines that are empty or only
// white space are dropped; the other lines are kept exactly (not trimmed).
func ReadLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read lines: %w", err)
	}
	return SplitLines(string(b)), nil
}

// SplitLines applies ReadLines' protocol to text already in memory.
func SplitLines(text string) []string {
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(text, "\r", ""), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TokenizeStream encodes each line on its own (with the dummy-prefix space,
// without BOS or EOS), concatenates the results and prepends a single BOS:
// stream = [BOS] ++ Encode(lines[0]) ++ Encode(lines[1]) ++ ….
func TokenizeStream(tok *tokenizer.Tokenizer, lines []string) []int {
	stream := []int{tokenizer.BOS}
	for _, l := range lines {
		stream = append(stream, tok.Encode(l, false, false)...)
	}
	return stream
}

// SplitTinyStories splits lines into the calibration half, the first
// floor(len/2) lines, and the evaluation half, the rest. Both alias lines.
func SplitTinyStories(lines []string) (calibration, evaluation []string) {
	h := len(lines) / 2
	return lines[:h:h], lines[h:]
}

// CalibrationWindows returns the first nWindows non-overlapping windows of
// length tokens of stream: window i is stream[i·length : (i+1)·length]
// (aliasing stream). It is an error if the stream is shorter than
// nWindows·length.
func CalibrationWindows(stream []int, nWindows, length int) ([][]int, error) {
	if nWindows <= 0 || length <= 0 {
		return nil, fmt.Errorf("calibration windows: need positive count and length, got %d × %d", nWindows, length)
	}
	if len(stream)/length < nWindows {
		return nil, fmt.Errorf("calibration windows: %d windows of %d tokens need %d tokens, stream has %d (%d windows)",
			nWindows, length, nWindows*length, len(stream), len(stream)/length)
	}
	w := make([][]int, nWindows)
	for i := range w {
		w[i] = stream[i*length : (i+1)*length : (i+1)*length]
	}
	return w, nil
}

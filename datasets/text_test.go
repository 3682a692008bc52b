package datasets

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/tokenizer"
	"github.com/stretchr/testify/require"
)

func TestTextReadLines(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"empty", "", nil},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"blank and space-only lines dropped", "x\n\n   \n\t\ny", []string{"x", "y"}},
		{"kept exactly, not trimmed", "  lead\ntrail \t\n = Title = ", []string{"  lead", "trail \t", " = Title = "}},
		{"stray carriage returns removed", "a\rb\r\n\r\n\rc", []string{"ab", "c"}},
		{"no final newline", "one\ntwo", []string{"one", "two"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "text.txt")
			require.NoError(t, os.WriteFile(p, []byte(tc.text), 0o644))
			got, err := ReadLines(p)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := ReadLines(filepath.Join(t.TempDir(), "missing.txt"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestTextTokenizeStreamAndWindows(t *testing.T) {
	tok, err := LoadTokenizerBin(llama2cSharedPath(t, llama2cStoriesTok))
	require.NoError(t, err)
	// " a"=261, " the"=265, " Lily"=317: each line gets its own dummy space,
	// one BOS at the very start, no EOS.
	stream := TokenizeStream(tok, []string{"a", "the", "Lily"})
	require.Equal(t, []int{tokenizer.BOS, 261, 265, 317}, stream)
	require.Equal(t, []int{tokenizer.BOS}, TokenizeStream(tok, nil))

	calib, eval := SplitTinyStories([]string{"1", "2", "3", "4", "5"})
	require.Equal(t, []string{"1", "2"}, calib)
	require.Equal(t, []string{"3", "4", "5"}, eval)
	calib, eval = SplitTinyStories([]string{"1"})
	require.Empty(t, calib)
	require.Equal(t, []string{"1"}, eval)

	s := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, tc := range []struct {
		name   string
		n, l   int
		want   [][]int
		errMsg string
	}{
		{"three of three", 3, 3, [][]int{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}, ""},
		{"first two", 2, 4, [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}}, ""},
		{"whole stream", 1, 10, [][]int{s}, ""},
		{"too many", 3, 4, nil, "need 12 tokens, stream has 10 (2 windows)"},
		{"zero length", 1, 0, nil, "positive"},
		{"zero count", 0, 4, nil, "positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := CalibrationWindows(s, tc.n, tc.l)
			if tc.errMsg != "" {
				require.ErrorContains(t, err, tc.errMsg)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, w)
		})
	}
}

// textStreamPrefix tokenizes the shortest prefix of a shared text file's
// lines whose stream (TokenizeStream protocol) has at least n tokens. Since
// the stream is a concatenation, this is exactly the first tokens of the
// whole file's stream, and saves tokenizing all of it.
func textStreamPrefix(t *testing.T, tok *tokenizer.Tokenizer, rel string, n int) []int {
	t.Helper()
	lines, err := ReadLines(llama2cSharedPath(t, rel))
	require.NoError(t, err)
	stream := TokenizeStream(tok, nil)
	for _, l := range lines {
		if len(stream) >= n {
			break
		}
		stream = append(stream, TokenizeStream(tok, []string{l})[1:]...)
	}
	require.GreaterOrEqualf(t, len(stream), n, "%s has fewer than %d tokens", rel, n)
	return stream
}

func TestTextTinyStoriesProtocol(t *testing.T) {
	_, tok := llama2cStories(t)
	lines, err := ReadLines(llama2cSharedPath(t, "text/tinystories/tinystories_val.txt"))
	require.NoError(t, err)
	calib, eval := SplitTinyStories(lines)
	require.Equal(t, len(lines)/2, len(calib))
	calStream := TokenizeStream(tok, calib)
	w, err := CalibrationWindows(calStream, DefaultCalibrationWindows, DefaultCalibrationLength)
	require.NoError(t, err)
	require.Len(t, w, 128)
	require.Equal(t, tokenizer.BOS, w[0][0])
	require.Equal(t, calStream[127*256:128*256], w[127])
	evStream := TokenizeStream(tok, eval)
	t.Logf("TinyStories: %d lines; calibration %d lines / %d tokens; evaluation %d lines / %d tokens",
		len(lines), len(calib), len(calStream), len(eval), len(evStream))
}

func TestTextPerplexityStories260K(t *testing.T) {
	m, tok := llama2cStories(t)
	const L, windows = 256, 20

	lines, err := ReadLines(llama2cSharedPath(t, "text/tinystories/tinystories_val.txt"))
	require.NoError(t, err)
	_, eval := SplitTinyStories(lines)
	ts := TokenizeStream(tok, eval)
	start := time.Now()
	tsPPL, err := m.Perplexity(ts, L, windows)
	require.NoError(t, err)
	t.Logf("TinyStories eval half: perplexity %.4f over %d windows × %d tokens (%d predicted) in %v",
		tsPPL.Perplexity, tsPPL.Windows, L, tsPPL.PredictedTokens, time.Since(start))
	require.Equal(t, windows, tsPPL.Windows)
	require.Equal(t, windows*L, tsPPL.Tokens)
	require.Equal(t, windows*(L-1), tsPPL.PredictedTokens)
	require.False(t, math.IsNaN(tsPPL.Perplexity) || math.IsInf(tsPPL.Perplexity, 0))
	// A uniform guess over 512 tokens has perplexity 512; the tiny model
	// should be far better on its own domain.
	require.Greater(t, tsPPL.Perplexity, 1.5)
	require.Less(t, tsPPL.Perplexity, 20.0)

	// The batched forward pass equals running each window on its own.
	batch := make([][]int, 4)
	for i := range batch {
		batch[i] = ts[i*L : (i+1)*L]
	}
	all, err := m.Forward(batch)
	require.NoError(t, err)
	var single float64
	for i, win := range batch {
		one, err := m.Forward([][]int{win})
		require.NoError(t, err)
		got := all.Seq(i)
		for k := range one.Data {
			require.InDeltaf(t, one.Data[k], got[k], 1e-5*math.Max(1, math.Abs(float64(one.Data[k]))), "window %d value %d", i, k)
		}
		for p := 1; p < L; p++ {
			nll, err := model.TokenNLL(one.Row(0, p-1), win[p])
			require.NoError(t, err)
			single += nll
		}
	}
	four, err := m.Perplexity(ts, L, 4)
	require.NoError(t, err)
	require.InDelta(t, single, four.TotalNLL, 1e-6*single)

	// WikiText-2 test is out of domain: much higher perplexity.
	ws := textStreamPrefix(t, tok, "text/wikitext-2-raw/wiki.test.raw", windows*L)
	start = time.Now()
	wtPPL, err := m.Perplexity(ws, L, windows)
	require.NoError(t, err)
	t.Logf("WikiText-2 test: perplexity %.4f over %d windows × %d tokens in %v", wtPPL.Perplexity, wtPPL.Windows, L, time.Since(start))
	require.False(t, math.IsNaN(wtPPL.Perplexity) || math.IsInf(wtPPL.Perplexity, 0))
	require.Greater(t, wtPPL.Perplexity, 2*tsPPL.Perplexity)
}

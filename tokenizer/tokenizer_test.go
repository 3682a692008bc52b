package tokenizer

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The expected ids below were derived by hand from tok512's vocabulary:
// ' '=410, 'a'=412, 'i'=417, '!'=443, 'é'=485, " a"=261 (score −2),
// " t"=259 (−0), "he"=260 (−1), " the"=265 (−6), "il"=290 (−31),
// " L"=307 (−48), "ily"=310 (−51), " Lily"=317, " H"=320 (−61),
// " O"=319 (−60), " On"=321, "ce"=331, " Once"=403, "on"=289 (−30),
// " u"=318, " up"=350, " upon"=407, "im"=288, "ime"=369, " time"=378.
// "Hi", " Hi", "i!", "Li", "ly" and " é" are not in the vocabulary;
// bytes without a token fall back to id byte+3.
func TestEncodeHandChecked(t *testing.T) {
	tok := loadTok512(t)
	for _, tc := range []struct {
		text     string
		bos, eos bool
		want     []int
	}{
		{"", false, false, []int{}},
		{"", true, true, []int{BOS, EOS}},
		{"a", false, false, []int{261}},
		{"a", true, true, []int{BOS, 261, EOS}},
		// " the": " t"+"h"+"e" → " t"+"he" → " the".
		{"the", false, false, []int{265}},
		// " Lily": "il" first, then " L", then "ily", then " Lily".
		{"Lily", false, false, []int{317}},
		// " Hi!": only " H" merges.
		{"Hi!", false, false, []int{320, 417, 443}},
		{"Once upon a time", true, false, []int{BOS, 403, 407, 261, 378}},
		// "é" has its own token; " é" does not merge.
		{"é", false, false, []int{410, 485}},
		// "ü" = C3 BC has no token: byte fallback 0xC3+3, 0xBC+3.
		{"ü", false, false, []int{410, 198, 191}},
		// U+1F600 = F0 9F 98 80.
		{"\U0001F600", false, false, []int{410, 243, 162, 155, 131}},
		// A continuation byte joins the preceding lead byte (here the dummy
		// space, as in llama2.c); " \x80" is no piece, so both bytes fall
		// back: 0x20+3, 0x80+3.
		{"\x80a", false, false, []int{35, 131, 412}},
	} {
		t.Run(tc.text, func(t *testing.T) {
			got := tok.Encode(tc.text, tc.bos, tc.eos)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestDecodeAndPiece(t *testing.T) {
	tok := loadTok512(t)
	require.Equal(t, 512, tok.VocabSize())
	require.Equal(t, 7, tok.MaxTokenLength())
	for _, tc := range []struct {
		name       string
		prev, tok  int
		wantPiece  string
		wantLookup bool
	}{
		{"space kept mid-text", 261, 261, " a", true},
		{"space stripped after BOS", BOS, 261, "a", true},
		{"byte token", 410, 13, "\n", false}, // <0x0A>
		{"high byte", 410, 198, "\xc3", false},
		{"out of range", 0, 512, "", false},
		{"negative", 0, -1, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.wantPiece, tok.Piece(tc.prev, tc.tok))
		})
	}
	require.Equal(t, "Once upon a time", tok.Decode([]int{BOS, 403, 407, 261, 378}))
	require.Equal(t, " Once upon a time", tok.Decode([]int{403, 407, 261, 378}))
	require.Equal(t, "ü!", tok.Decode([]int{BOS, 410, 198, 191, 443, EOS}))
	p, score, ok := tok.Token(403)
	require.True(t, ok)
	require.Equal(t, " Once", p)
	require.Equal(t, float32(-144), score)
	id, ok := tok.Lookup(" Lily")
	require.True(t, ok)
	require.Equal(t, 317, id)
}

// readLines returns the non-blank lines of a shared text file, with '\r'
// removed (the protocol of datasets.ReadLines).
func readLines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(sharedData(t, name))
	require.NoError(t, err)
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestRoundTripSharedText(t *testing.T) {
	tok := loadTok512(t)
	for _, name := range []string{
		"text/tinystories/tinystories_val.txt",
		"text/wikitext-2-raw/wiki.test.raw",
	} {
		t.Run(name, func(t *testing.T) {
			lines := readLines(t, name)
			require.Greater(t, len(lines), 1000)
			fallback := 0
			for i, line := range lines {
				ids := tok.Encode(line, true, false)
				require.Equalf(t, line, tok.Decode(ids), "line %d", i)
				require.Equalf(t, " "+line, tok.Decode(ids[1:]), "line %d without BOS", i)
				for _, id := range ids {
					if id >= 3 && id < 259 {
						fallback++
					}
				}
			}
			t.Logf("%d lines round-trip; %d byte-fallback tokens", len(lines), fallback)
		})
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	orig, err := os.ReadFile(sharedData(t, "models/stories260K/tok512.bin"))
	require.NoError(t, err)
	tok, err := Read(bytes.NewReader(orig), 0) // until EOF
	require.NoError(t, err)
	require.Equal(t, 512, tok.VocabSize())
	var buf bytes.Buffer
	n, err := tok.WriteTo(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(len(orig)), n)
	require.Equal(t, orig, buf.Bytes(), "tokenizer.bin must round-trip byte for byte")
}

func TestReadRejectsCorruptInput(t *testing.T) {
	orig, err := os.ReadFile(sharedData(t, "models/stories260K/tok512.bin"))
	require.NoError(t, err)
	le := func(v int32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	withLen := func(l int32) []byte { // first token's length field replaced
		b := append([]byte(nil), orig...)
		copy(b[8:12], le(l))
		return b
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		vocab int
		want  string
	}{
		{"empty", nil, 0, "max_token_length: unexpected EOF"},
		{"short header", orig[:2], 0, "max_token_length: unexpected EOF"},
		{"zero max length", append(le(0), orig[4:]...), 0, "max_token_length 0"},
		{"huge max length", append(le(1<<30), orig[4:]...), 0, "max_token_length 1073741824"},
		{"truncated piece", orig[:len(orig)-3], 0, "token 511: reading 3 bytes: unexpected EOF"},
		{"truncated score", orig[:len(orig)-10], 0, "token 511: reading score and length: unexpected EOF"},
		{"fewer tokens than vocab", orig, 600, "token 512: reading score and length"},
		{"negative length", withLen(-4), 0, "token 0: length -4"},
		{"length above max", withLen(8), 0, "token 0: length 8"},
		{"too few tokens", orig, 100, "too small"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.data), tc.vocab)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestNewRejectsBadVocab(t *testing.T) {
	valid := func() ([]string, []float32) {
		pieces := []string{"<unk>", "<s>", "</s>"}
		for b := 0; b < 256; b++ {
			pieces = append(pieces, fmt.Sprintf("<0x%02X>", b))
		}
		pieces = append(pieces, " a", "a", " ")
		return pieces, make([]float32, len(pieces))
	}
	pieces, scores := valid()
	tok, err := New(pieces, scores)
	require.NoError(t, err)
	require.Equal(t, 262, tok.VocabSize())
	require.Equal(t, []int{259}, tok.Encode("a", false, false))

	for _, tc := range []struct {
		name string
		mod  func(p []string, s []float32) ([]string, []float32)
		want string
	}{
		{"score count", func(p []string, s []float32) ([]string, []float32) { return p, s[:10] }, "262 pieces but 10 scores"},
		{"too small", func(p []string, s []float32) ([]string, []float32) { return p[:100], s[:100] }, "too small"},
		{"empty piece", func(p []string, s []float32) ([]string, []float32) { p[1] = ""; return p, s }, "token 1 has an empty piece"},
		{"not a byte token", func(p []string, s []float32) ([]string, []float32) { p[13] = "\n"; return p, s }, "token 13 is \"\\n\", want the byte-fallback piece <0x0A>"},
		{"lower-case hex", func(p []string, s []float32) ([]string, []float32) { p[13] = "<0x0a>"; return p, s }, "want the byte-fallback piece <0x0A>"},
		{"NaN score", func(p []string, s []float32) ([]string, []float32) { s[260] = float32(math.NaN()); return p, s }, "non-finite score"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := valid()
			p, s = tc.mod(p, s)
			_, err := New(p, s)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

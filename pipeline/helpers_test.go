package pipeline

import (
	"sync"
	"testing"

	"github.com/prunebench/armor/datasets"
	"github.com/prunebench/armor/internal/shared"
	"github.com/prunebench/armor/model"
	"github.com/prunebench/armor/tokenizer"
)

var (
	fixtureOnce sync.Once
	fixtureErr  error
	fixture     struct {
		m     *model.Model
		tok   *tokenizer.Tokenizer
		texts *Texts
	}
)

// stories loads stories260K, its tokenizer and the protocol texts once.
func stories(t testing.TB) (*model.Model, *tokenizer.Tokenizer, *Texts) {
	t.Helper()
	ckpt := shared.Path(t, "data", "models", "stories260K", "stories260K.bin")
	tokp := shared.Path(t, "data", "models", "stories260K", "tok512.bin")
	wiki := shared.Path(t, "data", "text", "wikitext-2-raw", "wiki.test.raw")
	tiny := shared.Path(t, "data", "text", "tinystories", "tinystories_val.txt")
	fixtureOnce.Do(func() {
		cfg, w, err := datasets.LoadLlama2C(ckpt)
		if err != nil {
			fixtureErr = err
			return
		}
		if fixture.m, fixtureErr = model.New(*cfg, w); fixtureErr != nil {
			return
		}
		if fixture.tok, fixtureErr = datasets.LoadTokenizerBin(tokp); fixtureErr != nil {
			return
		}
		fixture.texts, fixtureErr = LoadTexts(fixture.tok, tokenizer.BOS, wiki, tiny)
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture.m, fixture.tok, fixture.texts
}

package report

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/prunebench/armor/harness/cells"
)

// TestLaTeXCompilesWithinMargins compiles every table in a default article
// page with pdflatex and fails on an error or an overfull line (a table
// wider than the text). Skipped when pdflatex is not installed.
func TestLaTeXCompilesWithinMargins(t *testing.T) {
	pdflatex, err := exec.LookPath("pdflatex")
	if err != nil {
		t.Skip("SKIP: pdflatex not installed, LaTeX tables not compiled (Debian: apt-get install -y texlive-latex-base)")
	}
	// The hand-made cells, plus enough layers and methods for the widest
	// tables (per-layer columns of the block-size table, every method).
	cs := handMade()
	for _, c := range cs[:] {
		if c.Kind == "layer" {
			for _, l := range []string{"layers.1.mlp.gate_proj", "layers.1.mlp.down_proj", "layers.2.self_attn.o_proj", "layers.2.self_attn.q_proj"} {
				d := *c
				d.Key, d.Layer = c.Key+l, l
				cs = append(cs, &d)
			}
		}
	}
	ts := Build(cs, Options{ARMOR: ref})
	require.Len(t, ts, 4)
	dir := t.TempDir()
	var doc strings.Builder
	doc.WriteString(`\documentclass{article}
\usepackage[utf8]{inputenc}
\usepackage{graphicx}
\IfFileExists{booktabs.sty}{\usepackage{booktabs}}{\newcommand\toprule{\hline}\newcommand\midrule{\hline}\newcommand\bottomrule{\hline}}
\begin{document}
`)
	for _, tb := range ts {
		name := "table_" + tb.Name + ".tex"
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(LaTeX(tb)), 0o644))
		doc.WriteString("\\noindent\\input{" + name + "}\n\n\\bigskip\n")
	}
	doc.WriteString("\\end{document}\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "doc.tex"), []byte(doc.String()), 0o644))
	cmd := exec.Command(pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "pdflatex failed:\n%s", out)
	log, err := os.ReadFile(filepath.Join(dir, "doc.log"))
	require.NoError(t, err)
	require.NotContains(t, string(log), "Overfull \\hbox", "a table is wider than the text:\n%s", log)
	require.FileExists(t, filepath.Join(dir, "doc.pdf"))
}

// TestLaTeXShrinksOnlyWideTables: the wrapper is there for every table, but
// scales by \linewidth only when the table is wider (\ifdim).
func TestLaTeXShrinksOnlyWideTables(t *testing.T) {
	tex := LaTeX(&Table{Name: "x", Title: "t", Header: []string{"a", "b"}, Rows: [][]Cell{{Text("x"), Num(1, "%.1f")}}})
	require.Contains(t, tex, `\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%`)
	require.True(t, strings.HasSuffix(tex, "\\end{tabular}}%\n"))
	_ = cells.Params{}
}

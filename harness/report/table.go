package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Table is one rendered-format-independent table.
type Table struct {
	// Name is the file stem (table_<Name>.md etc.); Title a caption.
	Name, Title string
	Header      []string
	Rows        [][]Cell
	// Notes are printed under the table (Markdown, LaTeX comments).
	Notes []string
}

// Cell is one table entry: its text, and for numbers the exact value (used
// by CSV). Best marks the best entry of its row.
type Cell struct {
	Text     string
	Value    float64
	HasValue bool
	Best     bool
}

// Text is a non-numeric cell.
func Text(s string) Cell { return Cell{Text: s} }

// Num is a numeric cell printed with format f; NaN prints as "—".
func Num(v float64, f string) Cell {
	if math.IsNaN(v) {
		return Cell{Text: "—", Value: v}
	}
	return Cell{Text: fmt.Sprintf(f, v), Value: v, HasValue: true}
}

// Loss is a loss or error cell: four decimals, or three significant digits
// in exponent form below 0.001, so that small losses stay distinguishable.
func Loss(v float64) Cell {
	if math.IsNaN(v) || v == 0 || math.Abs(v) >= 1e-3 {
		return Num(v, "%.4f")
	}
	return Num(v, "%.2e")
}

// Markdown renders t as a GitHub Markdown table with its title and notes;
// best entries are bold.
func Markdown(t *Table) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### %s\n\n", t.Title)
	// Text columns align left, number columns right.
	align := make(tw.Alignment, len(t.Header))
	for i := range align {
		align[i] = tw.AlignLeft
		for _, r := range t.Rows {
			if i < len(r) && r[i].HasValue {
				align[i] = tw.AlignRight
				break
			}
		}
	}
	tab := tablewriter.NewTable(&b,
		tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithAlignment(align),
	)
	tab.Header(anySlice(t.Header)...)
	for _, r := range t.Rows {
		row := make([]any, len(r))
		for i, c := range r {
			s := c.Text
			if c.Best {
				s = "**" + s + "**"
			}
			row[i] = s
		}
		if err := tab.Append(row...); err != nil {
			fmt.Fprintf(&b, "(table error: %v)\n", err)
		}
	}
	if err := tab.Render(); err != nil {
		fmt.Fprintf(&b, "(table error: %v)\n", err)
	}
	for _, n := range t.Notes {
		fmt.Fprintf(&b, "\n%s\n", n)
	}
	return b.String()
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// CSV renders t as CSV with exact values and a final "best" column naming
// the header(s) of the row's best entries.
func CSV(t *Table) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(append(append([]string(nil), t.Header...), "best"))
	for _, r := range t.Rows {
		rec := make([]string, 0, len(r)+1)
		var best []string
		for i, c := range r {
			if c.HasValue {
				rec = append(rec, strconv.FormatFloat(c.Value, 'g', -1, 64))
			} else if c.Text == "—" {
				rec = append(rec, "")
			} else {
				rec = append(rec, c.Text)
			}
			if c.Best && i < len(t.Header) {
				best = append(best, t.Header[i])
			}
		}
		_ = w.Write(append(rec, strings.Join(best, ";")))
	}
	w.Flush()
	return b.String()
}

// LaTeX renders t as a booktabs tabular, scaled down to \linewidth when it
// is wider (\usepackage{graphicx,booktabs}); best entries are bold.
func LaTeX(t *Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%% %s\n", t.Title)
	for _, n := range t.Notes {
		fmt.Fprintf(&b, "%% %s\n", n)
	}
	// Shrunk to the line width only when wider (needs graphicx and booktabs).
	b.WriteString("\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%\n")
	fmt.Fprintf(&b, "\\begin{tabular}{l%s}\n\\toprule\n", strings.Repeat("r", max(0, len(t.Header)-1)))
	h := make([]string, len(t.Header))
	for i, s := range t.Header {
		h[i] = texEscape(s)
	}
	fmt.Fprintf(&b, "%s \\\\\n\\midrule\n", strings.Join(h, " & "))
	for _, r := range t.Rows {
		cs := make([]string, len(r))
		for i, c := range r {
			s := texEscape(c.Text)
			if c.Text == "—" {
				s = "--"
			}
			if c.Best {
				s = "\\textbf{" + s + "}"
			}
			cs[i] = s
		}
		fmt.Fprintf(&b, "%s \\\\\n", strings.Join(cs, " & "))
	}
	b.WriteString("\\bottomrule\n\\end{tabular}}%\n")
	return b.String()
}

func texEscape(s string) string {
	r := strings.NewReplacer(`\`, `\textbackslash{}`, "_", `\_`, "%", `\%`, "&", `\&`, "#", `\#`, "$", `\$`, "{", `\{`, "}", `\}`, "×", `$\times$`, "−", "$-$", "—", "--", "≤", `$\le$`)
	return r.Replace(s)
}

// markBest sets Best on the smallest numeric entries among cols of row r.
func markBest(r []Cell, cols []int) {
	best := math.Inf(1)
	for _, i := range cols {
		if r[i].HasValue && r[i].Value < best {
			best = r[i].Value
		}
	}
	if math.IsInf(best, 1) {
		return
	}
	all := true
	for _, i := range cols {
		if r[i].HasValue && r[i].Value != best {
			all = false
		}
	}
	if all {
		return // nothing to single out
	}
	for _, i := range cols {
		if r[i].HasValue && r[i].Value == best {
			r[i].Best = true
		}
	}
}

package report

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prunebench/armor/harness/cells"
)

// Write writes every table in every format (markdown, csv, latex) to dir as
// table_<name>.{md,csv,tex}, plus all Markdown tables in tables.md headed by
// header, each file atomically. The Markdown is also printed to w (if not
// nil). It returns the paths written.
func Write(dir string, ts []*Table, formats []string, header string, w io.Writer) ([]string, error) {
	var paths []string
	put := func(name, data string) error {
		p := filepath.Join(dir, name)
		if err := cells.WriteFileAtomic(p, []byte(data)); err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	}
	var all strings.Builder
	if header != "" {
		all.WriteString(header + "\n\n")
	}
	for _, t := range ts {
		md := Markdown(t)
		all.WriteString(md + "\n")
		if slices.Contains(formats, "markdown") {
			if err := put("table_"+t.Name+".md", md); err != nil {
				return paths, err
			}
		}
		if slices.Contains(formats, "csv") {
			if err := put("table_"+t.Name+".csv", CSV(t)); err != nil {
				return paths, err
			}
		}
		if slices.Contains(formats, "latex") {
			if err := put("table_"+t.Name+".tex", LaTeX(t)); err != nil {
				return paths, err
			}
		}
	}
	if slices.Contains(formats, "markdown") {
		if err := put("tables.md", all.String()); err != nil {
			return paths, err
		}
	}
	if w != nil {
		if _, err := io.WriteString(w, all.String()); err != nil {
			return paths, fmt.Errorf("printing tables: %w", err)
		}
	}
	return paths, nil
}

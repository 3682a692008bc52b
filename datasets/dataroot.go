package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DataRootEnv is the environment variable naming a local data mirror: a
// directory laid out like ../shared/data (models/<name>/..., text/...).
const DataRootEnv = "ARMOR_DATA"

// Paths of the project's standard artifacts inside a data root.
const (
	RelStories260K      = "models/stories260K/stories260K.bin"
	RelStories260KTok   = "models/stories260K/tok512.bin"
	RelWikiText2Test    = "text/wikitext-2-raw/wiki.test.raw"
	RelTinyStoriesValid = "text/tinystories/tinystories_val.txt"
)

// DataRoot returns the data root to use: configured (a config key or a
// flag) when non-empty, else $ARMOR_DATA, else "" (none). The result is
// cleaned but not checked.
func DataRoot(configured string) string {
	if configured != "" {
		return filepath.Clean(configured)
	}
	if env := os.Getenv(DataRootEnv); env != "" {
		return filepath.Clean(env)
	}
	return ""
}

// NotFoundError says which file was looked for where, and how to provide
// it.
type NotFoundError struct {
	What   string   // e.g. "WikiText-2 test split"
	Tried  []string // paths looked at, in order
	Remedy string   // how to provide it
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s not found: looked for %s; %s", e.What, strings.Join(e.Tried, ", "), e.Remedy)
}

// FindInDataRoot returns root/rel when that file exists. Otherwise the
// error says where it looked and how to provide the file: set ARMOR_DATA
// (or the config's data_root) to a mirror holding rel, or give a path.
func FindInDataRoot(root, rel, what string) (string, error) {
	if root == "" {
		return "", &NotFoundError{What: what, Tried: []string{"(no data root)"},
			Remedy: fmt.Sprintf("set %s (or data_root in the config) to a directory holding %s, e.g. ../shared/data, or give the file's path", DataRootEnv, rel)}
	}
	p := filepath.Join(root, filepath.FromSlash(rel))
	st, err := os.Stat(p)
	if err == nil && !st.IsDir() {
		return p, nil
	}
	return "", &NotFoundError{What: what, Tried: []string{p},
		Remedy: fmt.Sprintf("set %s (or data_root in the config) to a directory holding %s, or give the file's path", DataRootEnv, rel)}
}

// ResolveDataPath resolves a path that may be relative to the data root:
// an existing path is returned as is; otherwise root/path is tried. The
// error names both places.
func ResolveDataPath(root, path, what string) (string, error) {
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		return path, nil
	}
	tried := []string{path}
	if root != "" && !filepath.IsAbs(path) {
		p := filepath.Join(root, path)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", &NotFoundError{What: what, Tried: tried,
		Remedy: fmt.Sprintf("give an existing path or set %s to the directory that holds it", DataRootEnv)}
}

// LocateUnderRoot finds path, or a mirror of it under the data root: if
// path does not exist, root/<last k components of path> is tried for k = 3,
// 2, 1 (so .../data/models/stories260K/stories260K.bin is found as
// models/stories260K/stories260K.bin in any mirror). The error lists every
// place looked at.
func LocateUnderRoot(root, path, what string) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tried := []string{path}
	if root != "" {
		parts := strings.Split(filepath.ToSlash(filepath.Clean(path)), "/")
		for k := min(3, len(parts)); k >= 1; k-- {
			p := filepath.Join(append([]string{root}, parts[len(parts)-k:]...)...)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			tried = append(tried, p)
		}
	}
	return "", &NotFoundError{What: what, Tried: tried,
		Remedy: fmt.Sprintf("set %s (or the config's data root) to a local mirror such as ../shared/data, or fix the path", DataRootEnv)}
}

// Package shared locates the project's read-only shared material (reference
// fixtures, a real tiny Llama checkpoint, real text) for tests. It lives at
// ../shared from the repository root, never inside the repository.
package shared

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Root returns the absolute path of ../shared relative to the repository
// root (the nearest ancestor of the working directory holding go.mod), or an
// error saying where it looked.
func Root() (string, error) {
	if env := os.Getenv("ARMOR_SHARED"); env != "" {
		return checkDir(env)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	dir := wd
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return checkDir(filepath.Join(filepath.Dir(dir), "shared"))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s: cannot find the repository root, so not ../shared either", wd)
		}
		dir = parent
	}
}

func checkDir(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return "", fmt.Errorf("shared material not found at %s: these tests need ../shared next to the repository root (or ARMOR_SHARED pointing at it)", abs)
	}
	return abs, nil
}

// Path returns the path of rel inside ../shared and fails the test — never
// skips it — when the shared folder or the file is missing.
func Path(t testing.TB, rel ...string) string {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(append([]string{root}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared file missing: %v", err)
	}
	return p
}

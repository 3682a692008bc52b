package methods

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fileLayer is the layer of each non-test file of the package (see the
// package comment): 1 numerics primitives, 2 the methods, 3 the registry.
// (Layer 0 is internal/kernel, a package of its own.)
func fileLayer(name string) int {
	switch {
	case name == "registry.go":
		return 3
	case strings.HasPrefix(name, "armor"), name == "magnitude.go", name == "wanda.go",
		name == "nowag.go", name == "sparsegpt.go", name == "maskonly.go":
		return 2
	default: // doc, layer, pattern, blockdiag, stats, loss, precision
		return 1
	}
}

// TestFileLayering checks the file-level picture of the package: no file
// refers to a package-level name declared in a file of a higher layer, so
// every arrow between files points down (or stays in its layer). Names are
// matched syntactically (top-level functions, types, variables and
// constants; methods are reached through their types).
func TestFileLayering(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	declIn := map[string]string{}
	files := map[string]*ast.File{}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		src, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, n, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[n] = f
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					declIn[d.Name.Name] = n
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						declIn[s.Name.Name] = n
					case *ast.ValueSpec:
						for _, id := range s.Names {
							declIn[id.Name] = n
						}
					}
				}
			}
		}
	}
	var bad []string
	for n, f := range files {
		seen := map[string]bool{}
		var visit func(x ast.Node) bool
		visit = func(x ast.Node) bool {
			if fd, ok := x.(*ast.Field); ok {
				// a struct field's or parameter's name is not a reference
				ast.Inspect(fd.Type, visit)
				return false
			}
			if sel, ok := x.(*ast.SelectorExpr); ok {
				// sel.Sel is a field or method name, or another package's name.
				ast.Inspect(sel.X, visit)
				return false
			}
			if kv, ok := x.(*ast.KeyValueExpr); ok {
				// a struct literal's key is a field name
				ast.Inspect(kv.Value, visit)
				if _, isIdent := kv.Key.(*ast.Ident); !isIdent {
					ast.Inspect(kv.Key, visit)
				}
				return false
			}
			if id, ok := x.(*ast.Ident); ok {
				check(id, n, declIn, seen, &bad)
			}
			return true
		}
		ast.Inspect(f, visit)
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

func check(id *ast.Ident, file string, declIn map[string]string, seen map[string]bool, bad *[]string) {
	to, ok := declIn[id.Name]
	if !ok || to == file || seen[id.Name] {
		return
	}
	if fileLayer(to) > fileLayer(file) {
		seen[id.Name] = true
		*bad = append(*bad, file+" (layer "+itoa(fileLayer(file))+") uses "+id.Name+" from "+to+" (layer "+itoa(fileLayer(to))+")")
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

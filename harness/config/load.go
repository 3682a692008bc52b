package config

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Load reads the config at path, applies the key=value overrides in sets
// (each element may hold several, separated by spaces), fills in defaults
// and validates the result. Every problem found is reported, as Errors.
func Load(path string, sets ...string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, sets...)
}

// Parse is Load on the bytes of a file; path is used in messages and to
// resolve relative paths in the config.
func Parse(path string, data []byte, sets ...string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: path, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{File: path, Msg: "the file is empty; an experiment needs at least experiment, source and methods"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: path, Line: root.Line, Msg: "the top level must be a mapping of keys (experiment:, source:, methods:, ...)"}
	}
	overrides, err := SplitOverrides(sets...)
	if err != nil {
		return nil, err
	}
	for _, o := range overrides {
		if err := applyOverride(root, o); err != nil {
			return nil, err
		}
	}
	c := &Config{File: path, Overrides: overrides, pos: map[string]int{}}
	w := &walker{file: path, pos: c.pos}
	w.walk(root, reflect.TypeOf(Config{}), "")
	if len(w.errs) > 0 {
		return nil, w.errs.sorted()
	}
	// The tree now matches the schema; decode it strictly.
	enc, err := yaml.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("%s: re-encoding the config: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(enc))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	if errs := c.checkEnvVars(); len(errs) > 0 {
		return nil, errs.sorted()
	}
	c.OutputDir = os.ExpandEnv(c.OutputDir)
	c.setDefaults()
	if errs := c.validate(); len(errs) > 0 {
		return nil, errs.sorted()
	}
	return c, nil
}

// SplitOverrides splits override arguments into key=value items. Items are
// separated by white space outside brackets, so "methods=[armor, wanda]
// seed=1" is two items.
func SplitOverrides(sets ...string) ([]string, error) {
	var out []string
	for _, s := range sets {
		depth, start := 0, -1
		for i, r := range s + " " {
			if i == len(s) && depth > 0 {
				return nil, &Error{Msg: fmt.Sprintf("override %q: unclosed [ or {", s[max(start, 0):])}
			}
			switch {
			case r == '[' || r == '{':
				depth++
			case r == ']' || r == '}':
				depth--
			}
			if unicode.IsSpace(r) && depth <= 0 {
				if start >= 0 {
					out = append(out, s[start:i])
					start = -1
				}
				continue
			}
			if start < 0 {
				start = i
			}
		}
	}
	for _, o := range out {
		k, _, ok := strings.Cut(o, "=")
		if !ok || k == "" {
			return nil, &Error{Msg: fmt.Sprintf("override %q: want key=value, e.g. armor.iters=100", o)}
		}
	}
	return out, nil
}

// applyOverride sets key path k of root to the YAML value v, creating
// mappings on the way. The new nodes get line 0 so errors say "--set".
func applyOverride(root *yaml.Node, o string) error {
	k, v, _ := strings.Cut(o, "=")
	var val yaml.Node
	if err := yaml.Unmarshal([]byte(v), &val); err != nil {
		return &Error{Path: k, Msg: fmt.Sprintf("value %q is not valid YAML: %v", v, err)}
	}
	var vn *yaml.Node
	if len(val.Content) == 0 {
		vn = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	} else {
		vn = val.Content[0]
	}
	zeroLines(vn)
	parts := strings.Split(k, ".")
	cur := root
	for i, p := range parts {
		if p == "" {
			return &Error{Path: k, Msg: "empty key component"}
		}
		if cur.Kind != yaml.MappingNode {
			return &Error{Path: strings.Join(parts[:i], "."), Msg: "is not a mapping, so it has no key " + strconv.Quote(p)}
		}
		var next *yaml.Node
		for j := 0; j+1 < len(cur.Content); j += 2 {
			if cur.Content[j].Value == p {
				next = cur.Content[j+1]
				if i == len(parts)-1 {
					cur.Content[j+1] = vn
					cur.Content[j].Line = 0
				}
				break
			}
		}
		if i == len(parts)-1 {
			if next == nil {
				cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p}, vn)
			}
			return nil
		}
		if next == nil || next.Kind == yaml.ScalarNode && next.Tag == "!!null" {
			m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if next == nil {
				cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p}, m)
			} else {
				*next = *m
			}
			next = m
			if next.Line == 0 {
				next.Line = 0
			}
		}
		cur = next
	}
	return nil
}

func zeroLines(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		zeroLines(c)
	}
}

// walker checks a YAML tree against a Go type, recording the line of every
// key path and collecting errors.
type walker struct {
	file string
	pos  map[string]int
	errs Errors
}

func (w *walker) errorf(line int, path, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: w.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var schemaPaths = func() map[string][]string {
	// leaf key → full paths, for "did you mean a.b" across levels.
	out := map[string][]string{}
	var rec func(t reflect.Type, path string)
	rec = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			name := yamlName(t.Field(i))
			if name == "" {
				continue
			}
			p := join(path, name)
			out[name] = append(out[name], p)
			rec(t.Field(i).Type, p)
		}
	}
	rec(reflect.TypeOf(Config{}), "")
	return out
}()

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		w.pos[path] = n.Line
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // absent: the default applies
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.errorf(n.Line, path, "want a mapping of keys, got %s", describe(n))
			return
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			if name := yamlName(t.Field(i)); name != "" {
				fields[name] = t.Field(i).Type
				names = append(names, name)
			}
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				w.errorf(k.Line, p, "key given twice (first on line %d)", first)
				continue
			}
			seen[k.Value] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				msg := "unknown key"
				if s := suggest(k.Value, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else if ps := schemaPaths[k.Value]; len(ps) > 0 {
					msg += fmt.Sprintf(" here (did you mean %q?)", ps[0])
				} else {
					msg += "; known keys here: " + strings.Join(names, ", ")
				}
				w.errorf(k.Line, p, "%s", msg)
				continue
			}
			w.pos[p] = k.Line
			w.walk(v, ft, p)
			if v.Line != 0 || k.Line == 0 {
				w.pos[p] = k.Line
			}
		}
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode {
			// A scalar where a list is expected is a one-element list.
			elem := *n
			*n = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: n.Line, Column: n.Column, Content: []*yaml.Node{&elem}}
		}
		if n.Kind != yaml.SequenceNode {
			w.errorf(n.Line, path, "want a list, got %s", describe(n))
			return
		}
		for i, e := range n.Content {
			w.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.errorf(n.Line, path, "want %s, got %s", kindName(t), describe(n))
			return
		}
		w.checkExplicitZero(n, path)
		if k := t.Kind(); k >= reflect.Int && k <= reflect.Uint64 && !w.checkWholeNumber(n, path, kindName(t)) {
			return
		}
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			w.errorf(n.Line, path, "want %s, got %q", kindName(t), n.Value)
		}
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return strconv.Quote(n.Value)
	}
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "a non-negative integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestPruneMaxMemoryBadValue: a --max-memory that is not a byte size is
// refused by name before anything is loaded.
func TestPruneMaxMemoryBadValue(t *testing.T) {
	for _, v := range []string{"lots", "-1GiB", "2XB"} {
		var o, e bytes.Buffer
		code := run([]string{"prune", "--method", "wanda", "--max-memory", v, "--no-eval"}, &o, &e)
		if code == 0 || !strings.Contains(e.String(), "max-memory") || !strings.Contains(e.String(), "is not a byte size") {
			t.Errorf("--max-memory %q: exit %d, stderr %q; want a byte-size error naming the flag", v, code, e.String())
		}
	}
}

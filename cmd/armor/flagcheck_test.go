package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Negative or NaN numeric flags used to mean the default (or "all"); each
// is now refused before any work, naming the flag.
func TestNegativeOrNaNFlagsRefused(t *testing.T) {
	tests := []struct {
		args []string
		flag string
		want string // the reason; "" means "want a finite number ≥ 0"
	}{
		{[]string{"layer", "--patience", "-3"}, "--patience", ""},
		{[]string{"layer", "--threads", "-1"}, "--threads", ""},
		{[]string{"sweep", "--config", "x.yaml", "--workers", "-2"}, "--workers", ""},
		{[]string{"eval", "--max-windows", "-1"}, "--max-windows", ""},
		{[]string{"prune", "--max-windows", "-5"}, "--max-windows", ""},
		{[]string{"ttq", "--target", "NaN"}, "--target", ""},
		{[]string{"ttq", "--target", "-0.5"}, "--target", ""},
		{[]string{"ttq", "--ref-seconds", "-1"}, "--ref-seconds", ""},
		{[]string{"ttq", "--ref-seconds", "+Inf"}, "--ref-seconds", ""},
		{[]string{"convert", "--shard-bytes", "-1"}, "-shard-bytes", "is not a byte size"}, // the byte-size flag's own parser
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			assert.NotEqual(t, 0, code)
			assert.Contains(t, errb.String(), "flag "+tc.flag)
			want := tc.want
			if want == "" {
				want = "want a finite number ≥ 0"
			}
			assert.Contains(t, errb.String(), want)
		})
	}
}

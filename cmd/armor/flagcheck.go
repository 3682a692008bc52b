package main

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// checkNonNegative refuses a negative, NaN or infinite value given on the
// command line for any of the named numeric flags of fs (their 0 or default
// would otherwise silently stand in for it). Flags left at their default are
// not checked, so a sentinel default such as -1 stays possible.
func checkNonNegative(fs *flag.FlagSet, names ...string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil || !slices.Contains(names, f.Name) {
			return
		}
		v, perr := strconv.ParseFloat(f.Value.String(), 64)
		if perr != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			err = fmt.Errorf("flag --%s %s: want a finite number ≥ 0", f.Name, f.Value)
		}
	})
	return err
}

package theory

import (
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"pgregory.net/rapid"
)

// checksEnv sets the number of cases of every property (e.g. 1000 in
// `make theory`). Without it each property uses its own default, chosen so
// that `go test ./theory/` stays well under two minutes on two cores. An
// explicit -rapid.checks on the command line wins over both.
const checksEnv = "ARMOR_THEORY_CHECKS"

// failfileEnv, when set to a true value, lets rapid write its fail files
// (theory/testdata/rapid/...). By default they are disabled so that the
// tests write nothing outside t.TempDir(); a failure is then replayed from
// the printed -rapid.seed.
const failfileEnv = "ARMOR_THEORY_FAILFILE"

// seedEnv chooses rapid's seed when -rapid.seed is not given: unset, the
// fixed defaultSeed, so that `go test ./theory/` (and CI) checks the same
// cases every run; "random", rapid's own random seed (`make theory` explores
// new cases each time); a number, that seed.
const seedEnv = "ARMOR_THEORY_SEED"

// defaultSeed is the seed of the deterministic default run.
const defaultSeed = "20261127"

var explicitFlags = map[string]bool{}

func TestMain(m *testing.M) {
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { explicitFlags[f.Name] = true })
	if !explicitFlags["rapid.nofailfile"] && !explicitFlags["rapid.failfile"] {
		keep, _ := strconv.ParseBool(os.Getenv(failfileEnv))
		if !keep {
			_ = flag.Set("rapid.nofailfile", "true")
		}
	}
	if !explicitFlags["rapid.seed"] {
		switch v := os.Getenv(seedEnv); v {
		case "random":
		case "":
			_ = flag.Set("rapid.seed", defaultSeed)
		default:
			if err := flag.Set("rapid.seed", v); err != nil {
				fmt.Fprintf(os.Stderr, "%s=%q: want a number or \"random\": %v\n", seedEnv, v, err)
				os.Exit(2)
			}
		}
	}
	code := m.Run()
	printSummary(os.Stdout)
	os.Exit(code)
}

// numChecks returns the number of cases a property runs: -rapid.checks when
// given explicitly, else $ARMOR_THEORY_CHECKS, else def.
func numChecks(t *testing.T, def int) int {
	if explicitFlags["rapid.checks"] {
		n, _ := strconv.Atoi(flag.Lookup("rapid.checks").Value.String())
		return n
	}
	if v := os.Getenv(checksEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive integer", checksEnv, v)
		}
		return n
	}
	return def
}

// measure names one margin a property records per case: the quantity it
// bounds (larger is worse) and the bound (NaN when it is only measured).
type measure struct {
	Key, What string
	Bound     float64
}

// property runs prop as a rapid check with numChecks(t, def) cases and
// records it in the summary under name, one row per measure. rapid v1.3.0
// has no programmatic settings: the number of cases is its -rapid.checks
// flag, read when a check starts, so it is set here before each (sequential)
// check.
func property(t *testing.T, name string, measures []measure, def int, prop func(t *rapid.T, c *caseStats)) {
	t.Helper()
	n := numChecks(t, def)
	if err := flag.Set("rapid.checks", strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	st := summary.get(name, measures)
	rapid.Check(t, func(rt *rapid.T) {
		c := &caseStats{worst: map[string]float64{}}
		done := false
		defer func() {
			// Also runs when the case fails: rapid stops a failing case by
			// panicking, and so does any other panic (done stays false).
			st.record(c, rt.Failed() || !done)
		}()
		prop(rt, c)
		done = true
	})
}

// caseStats collects one case's margins by key: the quantities a property
// bounds, e.g. the largest relative increase of the loss. Larger is worse.
type caseStats struct{ worst map[string]float64 }

// observe records a margin value of the current case.
func (c *caseStats) observe(key string, v float64) {
	if w, ok := c.worst[key]; !ok || v > w || math.IsNaN(v) {
		c.worst[key] = v
	}
}

// propStats aggregates the cases of one property. After the first violating
// case it stops counting: rapid then replays and shrinks that case, and those
// runs are not new cases.
type propStats struct {
	mu         sync.Mutex
	name       string
	measures   []measure
	cases      int
	violations int
	worst      map[string]float64
	frozen     bool
	order      int
}

func (p *propStats) record(c *caseStats, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		return
	}
	p.cases++
	for k, v := range c.worst {
		if w, ok := p.worst[k]; !ok || v > w || math.IsNaN(v) {
			p.worst[k] = v
		}
	}
	if failed {
		p.violations++
		p.frozen = true
	}
}

// worstOf returns the worst value recorded for key (-Inf when none).
func (p *propStats) worstOf(key string) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.worst[key]; ok {
		return w
	}
	return math.Inf(-1)
}

type registry struct {
	mu    sync.Mutex
	props map[string]*propStats
	notes []string
}

var summary = &registry{props: map[string]*propStats{}}

func (r *registry) get(name string, measures []measure) *propStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.props[name]; ok {
		return p
	}
	p := &propStats{name: name, measures: measures, worst: map[string]float64{}, order: len(r.props)}
	r.props[name] = p
	return p
}

// note adds a line printed under the summary table (measurements that are
// not pass/fail, such as the Adam statistics).
func (r *registry) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func fmtMargin(v float64) string {
	if math.IsInf(v, -1) {
		return "-"
	}
	return fmt.Sprintf("%.3g", v)
}

// printSummary renders the table: property, cases, violations, worst margin
// (and what the margin measures and its bound).
func printSummary(w *os.File) {
	summary.mu.Lock()
	defer summary.mu.Unlock()
	if len(summary.props) == 0 {
		return
	}
	ps := make([]*propStats, 0, len(summary.props))
	for _, p := range summary.props {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].name < ps[j].name })
	table := tablewriter.NewTable(w,
		tablewriter.WithSymbols(tw.NewSymbols(tw.StyleASCII)),
		tablewriter.WithHeaderAutoFormat(tw.Off),
	)
	table.Header("property", "cases", "violations", "worst margin", "margin measures", "bound")
	for _, p := range ps {
		for k, m := range p.measures {
			name, cases, viol := p.name, strconv.Itoa(p.cases), strconv.Itoa(p.violations)
			if k > 0 {
				name, cases, viol = "  ''", "", ""
			}
			bound := "measured"
			if !math.IsNaN(m.Bound) {
				bound = fmt.Sprintf("%.3g", m.Bound)
			}
			w, ok := p.worst[m.Key]
			if !ok {
				w = math.Inf(-1)
			}
			_ = table.Append(name, cases, viol, fmtMargin(w), m.What, bound)
		}
	}
	fmt.Fprintln(w)
	_ = table.Render()
	for _, n := range summary.notes {
		fmt.Fprintln(w, "| "+n)
	}
}

// isFrozen reports whether the property already saw a violating case (its
// later runs are rapid's replays and shrinking, not new cases).
func (p *propStats) isFrozen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frozen
}

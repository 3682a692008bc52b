package sweep

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/prunebench/armor/harness/cells"
)

// progress shows how a sweep advances: a bar with ETA redrawn in place on a
// terminal, one line per finished cell otherwise.
type progress struct {
	mu        sync.Mutex
	w         io.Writer
	term      bool
	start     time.Time
	total     int
	skipped   int
	n         int
	cost, got float64
	lastDraw  time.Time
}

func newProgress(w io.Writer, term bool, pending []Job, skipped int) *progress {
	p := &progress{w: w, term: term, start: time.Now(), total: len(pending), skipped: skipped}
	for _, j := range pending {
		p.cost += j.cost()
	}
	if w != nil && skipped > 0 {
		fmt.Fprintf(w, "%d cell(s) already done, skipped\n", skipped)
	}
	return p
}

func (p *progress) eta() string {
	if p.got <= 0 || p.n == 0 {
		return "?"
	}
	el := time.Since(p.start)
	rest := time.Duration(float64(el) * (p.cost - p.got) / p.got)
	return rest.Round(time.Second).String()
}

func (p *progress) done(j Job, c *cells.Cell, err error) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.got += j.cost()
	if p.term {
		if err != nil {
			fmt.Fprintf(p.w, "\r\033[K FAILED %s: %v\n", j.Label(), err)
		}
		if time.Since(p.lastDraw) < 100*time.Millisecond && p.n < p.total {
			return
		}
		p.lastDraw = time.Now()
		const width = 30
		frac := p.got / math.Max(p.cost, 1e-300)
		fill := int(math.Round(frac * width))
		fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d %3.0f%% ETA %s  %s", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
			p.n, p.total, 100*frac, p.eta(), j.Label())
		return
	}
	if err != nil {
		fmt.Fprintf(p.w, "[%*d/%d] FAILED %s: %v\n", digits(p.total), p.n, p.total, j.Label(), err)
		return
	}
	fmt.Fprintf(p.w, "[%*d/%d] %-48s loss %.6f  err %.6f  %6.2fs  ETA %s\n", digits(p.total), p.n, p.total, j.Label(),
		float64(c.ProxyLoss), float64(c.OutputError), c.Seconds, p.eta())
}

func (p *progress) finish() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.term && p.n > 0 {
		fmt.Fprintln(p.w)
	}
}

func digits(n int) int { return len(fmt.Sprint(n)) }

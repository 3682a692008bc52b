// Package progress draws a progress bar (done/total, rate, ETA) on a
// terminal for long-running commands such as prune, eval and calibrate.
//
// It wraps github.com/schollz/progressbar/v3 with the project's conventions:
// the bar goes to stderr, it is drawn only when that stream is a terminal
// (or when the user asked for it with --progress), and only once the work
// has taken longer than a delay, so quick runs print nothing.
//
// Typical use:
//
//	bar := progress.New(stderr, progress.Options{Mode: mode, Total: n, Description: "pruning blocks"})
//	defer bar.Finish()
//	for i := range n { work(i); bar.Set(i + 1) }
//
// A nil *Bar is valid and draws nothing, so callers can pass bar.Set as a
// hook without checking.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Mode says when a bar is drawn.
type Mode int

const (
	// Auto draws when the writer is a terminal (an *os.File that is a TTY).
	Auto Mode = iota
	// Always draws whatever the writer is (the --progress flag).
	Always
	// Never draws nothing.
	Never
)

// DefaultDelay is how long work runs before its bar first appears.
const DefaultDelay = 2 * time.Second

// DelayEnv names the environment variable that overrides DefaultDelay (a
// Go duration such as "0s" or "10s").
const DelayEnv = "ARMOR_PROGRESS_DELAY"

// Options configures a Bar.
type Options struct {
	Mode        Mode
	Total       int
	Description string
	// Unit names what is counted ("blocks", "windows"); shown after the count.
	Unit string
	// Delay before the bar first appears; 0 means $ARMOR_PROGRESS_DELAY or
	// else DefaultDelay, a negative value draws at once.
	Delay time.Duration
}

// Bar is one progress bar. Its methods are safe for concurrent use.
type Bar struct {
	bar *progressbar.ProgressBar
	dw  *delayedWriter
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Enabled reports whether a bar in mode m on w would be drawn.
func Enabled(w io.Writer, m Mode) bool {
	switch m {
	case Always:
		return w != nil
	case Never:
		return false
	default:
		return w != nil && IsTerminal(w)
	}
}

// ModeFromFlag maps a --progress flag to a mode: true forces the bar,
// false leaves it to Auto.
func ModeFromFlag(force bool) Mode {
	if force {
		return Always
	}
	return Auto
}

// New returns a bar counting to opt.Total on w, or nil when it would not
// be drawn (see Enabled) or Total ≤ 0. The clock for the rate and ETA
// starts now.
func New(w io.Writer, opt Options) *Bar {
	if opt.Total <= 0 || !Enabled(w, opt.Mode) {
		return nil
	}
	delay := opt.Delay
	if delay == 0 {
		delay = DefaultDelay
		if d, err := time.ParseDuration(os.Getenv(DelayEnv)); err == nil {
			delay = d
		}
	}
	dw := &delayedWriter{w: w, start: time.Now(), delay: delay}
	unit := opt.Unit
	if unit == "" {
		unit = "it"
	}
	b := progressbar.NewOptions(opt.Total,
		progressbar.OptionSetWriter(dw),
		progressbar.OptionSetDescription(opt.Description),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetRenderBlankState(false),
	)
	b.StartWithoutRender()
	return &Bar{bar: b, dw: dw}
}

// Set records that done units of the total are finished.
func (b *Bar) Set(done int) {
	if b == nil {
		return
	}
	_ = b.bar.Set(done)
}

// Add records n more finished units.
func (b *Bar) Add(n int) {
	if b == nil {
		return
	}
	_ = b.bar.Add(n)
}

// Hook returns a callback for library code that reports (done, total)
// progress; it is nil-safe (a nil Bar gives a hook that does nothing).
func (b *Bar) Hook() func(done, total int) {
	return func(done, _ int) { b.Set(done) }
}

// Finish ends the bar: if it was ever drawn, the cursor moves to a new
// line so that what follows is not written over it.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	_ = b.bar.Exit()
	b.dw.finish()
}

// Shown reports whether the bar has been drawn at least once.
func (b *Bar) Shown() bool {
	if b == nil {
		return false
	}
	b.dw.mu.Lock()
	defer b.dw.mu.Unlock()
	return b.dw.shown
}

// delayedWriter drops the bar's writes until delay has passed since start.
type delayedWriter struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	delay time.Duration
	shown bool
	done  bool
}

func (d *delayedWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done || time.Since(d.start) < d.delay {
		return len(p), nil
	}
	d.shown = true
	if _, err := d.w.Write(p); err != nil {
		return 0, fmt.Errorf("progress: %w", err)
	}
	return len(p), nil
}

func (d *delayedWriter) finish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shown && !d.done {
		fmt.Fprintln(d.w)
	}
	d.done = true
}

package ops

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress shows how far a long operation got: on a terminal a bar redrawn in place with
// the rate and the time left, elsewhere (a log, a pipe) a plain line now and then. Its
// Update method fits the Progress callbacks of ReplayOptions and RedriveOptions. It is
// safe for concurrent use.
type Progress struct {
	w     io.Writer
	tty   bool
	label string
	now   func() time.Time
	every time.Duration // between plain lines; a terminal redraws at most 10 times a second

	mu          sync.Mutex
	start, last time.Time
	done, total uint64
	drawn       bool
}

// NewProgress returns a Progress writing to w, for a terminal when tty.
func NewProgress(w io.Writer, tty bool, label string) *Progress {
	return NewProgressClock(w, tty, label, time.Now)
}

// NewProgressClock is NewProgress with its own clock (for tests).
func NewProgressClock(w io.Writer, tty bool, label string, now func() time.Time) *Progress {
	return &Progress{w: w, tty: tty, label: label, now: now, every: 5 * time.Second}
}

// Update records that done of total units are done (total 0: unknown) and shows it when it
// is time to.
func (p *Progress) Update(done, total uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.start.IsZero() {
		p.start = now
	}
	p.done, p.total = done, total
	gap := p.every
	if p.tty {
		gap = 100 * time.Millisecond
	}
	if p.drawn && now.Sub(p.last) < gap && (total == 0 || done < total) {
		return
	}
	if !p.tty && !p.drawn && done == 0 {
		return // a plain line for "nothing done yet" says nothing
	}
	p.last, p.drawn = now, true
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", p.line(now))
	} else {
		fmt.Fprintln(p.w, p.line(now))
	}
}

// Finish ends the display: a terminal's bar gets its final state and a newline.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprintf(p.w, "\r\x1b[K%s\n", p.line(p.now()))
	}
	p.drawn = false
}

// line renders the current state.
func (p *Progress) line(now time.Time) string {
	var b strings.Builder
	b.WriteString(p.label)
	elapsed := now.Sub(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done) / elapsed.Seconds()
	}
	if p.total > 0 {
		frac := min(float64(p.done)/float64(p.total), 1)
		if p.tty {
			const width = 24
			full := int(frac * width)
			b.WriteString(" [" + strings.Repeat("=", full))
			if full < width {
				b.WriteString(">" + strings.Repeat(" ", width-full-1))
			}
			b.WriteString("]")
		}
		fmt.Fprintf(&b, " %d/%d (%.0f%%)", p.done, p.total, frac*100)
	} else {
		fmt.Fprintf(&b, " %d", p.done)
	}
	fmt.Fprintf(&b, " %.0f/s", rate)
	if p.total > p.done && rate > 0 {
		eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
		fmt.Fprintf(&b, " ETA %s", eta.Round(time.Second))
	} else if p.total > 0 && p.done >= p.total {
		fmt.Fprintf(&b, " in %s", elapsed.Round(time.Millisecond))
	}
	return b.String()
}

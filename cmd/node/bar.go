package main

import (
	"time"

	"github.com/schollz/progressbar/v3"
)

// bar is a progress bar on stderr that exists only when stderr is a
// terminal and progress was asked for; otherwise its methods do nothing.
type bar struct {
	pb *progressbar.ProgressBar
}

func (c *cli) newBar(enabled bool, total int64, what string) *bar {
	if !enabled || !c.stderrTTY {
		return &bar{}
	}
	return &bar{pb: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)}
}

func (b *bar) add(n int64) {
	if b.pb != nil {
		_ = b.pb.Add64(n)
	}
}

// clear removes the bar from the line so that other output can be printed.
func (b *bar) clear() {
	if b.pb != nil {
		_ = b.pb.Clear()
	}
}

func (b *bar) finish() {
	if b.pb != nil {
		_ = b.pb.Finish()
		b.pb = nil
	}
}

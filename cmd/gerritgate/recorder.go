package main

import (
	"time"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/status"
)

// recorder is where the poller's results go (it satisfies poll.Recorder):
// the status board, the metrics and, for the demo, a printer of
// transitions.
type recorder struct {
	*status.Board
	metrics *metrics
	// onChange, when set (before the service runs), sees every result
	// whose reason, message or head changed (the demo prints them).
	onChange func(deploy.Result)
}

// Record counts res in the metrics and keeps it on the board.
func (r *recorder) Record(res deploy.Result) bool {
	r.metrics.observe(res)
	changed := r.Board.Record(res)
	if changed && r.onChange != nil {
		r.onChange(res)
	}
	return changed
}

// Polled counts a finished poll on the board and its duration in the
// metrics.
func (r *recorder) Polled(took time.Duration) {
	r.Board.Polled()
	r.metrics.pollDuration.Observe(took.Seconds())
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/hookd/hookd/projections"
)

// rebuild runs `hookd projections rebuild`: each read model is built again from the start of the log
// into fresh tables that replace the live ones when complete. A serve running meanwhile keeps
// answering from the old tables, then carries on from the rebuilt ones.
func rebuild(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("projections rebuild", flag.ContinueOnError)
	only := fs.String("projection", "", "rebuild only this read model (default: all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	n, err := openRebuildNode(ctx, cfg, cfg.logger(stderr))
	if err != nil {
		return err
	}
	defer n.close()
	found := false
	for _, p := range n.projections {
		if *only != "" && p.Name() != *only {
			continue
		}
		found = true
		if err := rebuildOne(ctx, n, p, stdout, stderr); err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("projections rebuild: no read model is called %q", *only)
	}
	return rewindDispatch(ctx, n, stdout)
}

// rewindDispatch moves the dispatcher's checkpoint back to the log's head when it is past it, as it
// is once the log has been restored from an older copy: the dispatcher cannot be rebuilt (its effects
// are deliveries), but it must not skip the events appended from there on.
func rewindDispatch(ctx context.Context, n *node, stdout io.Writer) error {
	name := dispatchProjection{}.Name()
	from, rewound, err := projections.RewindToLog(ctx, n.writeDB, name, n.store.LastPosition)
	if err != nil {
		return fmt.Errorf("rewinding %s: %w", name, err)
	}
	if rewound {
		fmt.Fprintf(stdout, "rewound %s from %s to the end of the log: events past the log's end were dispatched before and are lost\n", name, from)
	}
	return nil
}

func rebuildOne(ctx context.Context, n *node, p projections.Projection, stdout, stderr io.Writer) error {
	head, err := n.store.LastPosition(ctx)
	if err != nil {
		return err
	}
	// The bar starts with a known length: with an unknown one the library animates a spinner from a
	// goroutine of its own that races its renderer.
	options := []progressbar.Option{
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("rebuilding " + p.Name()),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
	}
	// The embedded log numbers its events, so its positions count them and the bar can show
	// events and events/s; KurrentDB's positions are byte offsets, good only for a percentage and
	// the time left.
	if n.cfg.EventStore == eventStoreEmbedded {
		options = append(options, progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"))
	}
	bar := progressbar.NewOptions64(int64(max(head.Commit, 1)), options...)
	var last projections.Progress
	pos, err := projections.Rebuild(ctx, projections.RebuildConfig{
		DB: n.readDB, ReadAll: n.store.ReadAll, LastPosition: n.store.LastPosition, Projection: p,
		Progress: func(pr projections.Progress) {
			last = pr
			// The log may grow while the rebuild runs: the bar's end moves with it.
			bar.ChangeMax64(int64(pr.Total))
			_ = bar.Set64(int64(pr.Done))
		},
	})
	_ = bar.Finish()
	if err != nil {
		return fmt.Errorf("rebuilding %s: %w", p.Name(), err)
	}
	rate := 0.0
	if secs := last.Elapsed.Seconds(); secs > 0 {
		rate = float64(last.Events) / secs
	}
	fmt.Fprintf(stdout, "rebuilt %s: %d events in %s (%.0f events/s), up to position %s\n",
		p.Name(), last.Events, last.Elapsed.Round(time.Millisecond), rate, pos)
	return nil
}

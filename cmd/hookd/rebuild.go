package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/hookd/hookd/projections"
)

func newRebuildCommand(c *cli) *cobra.Command {
	var only string
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Rebuild read models from the start of the log",
		Long: `Rebuild each read model from the start of the log into fresh tables that replace the live ones
when complete. A serve running on the same data directory keeps answering from the old tables, then
carries on from the rebuilt ones.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config()
			if err != nil {
				return err
			}
			return rebuild(cmd.Context(), cfg, only, c.stdout, c.stderr)
		},
	}
	cmd.Flags().StringVar(&only, "projection", "", "rebuild only this read model: webhooks, licenses, servicekeys or deliveries (default: all)")
	return cmd
}

// rebuild runs `hookd projections rebuild`: every read model, or only the one named.
func rebuild(ctx context.Context, cfg config, only string, stdout, stderr io.Writer) error {
	n, err := openRebuildNode(ctx, cfg, cfg.logger(stderr))
	if err != nil {
		return err
	}
	defer n.close()
	var chosen, names []string
	for _, p := range n.projections {
		names = append(names, p.Name())
		if only == "" || p.Name() == only {
			chosen = append(chosen, p.Name())
		}
	}
	if len(chosen) == 0 {
		return fmt.Errorf("projections rebuild: no read model is called %q; the read models are %s", only, strings.Join(names, ", "))
	}
	for _, p := range n.projections {
		if slices.Contains(chosen, p.Name()) {
			if err := rebuildOne(ctx, n, p, stdout, stderr); err != nil {
				return err
			}
		}
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
	// The bar's own rate is a rolling average of half-second windows: on a log rebuilt in less it
	// shows "0 events/hr". The rate in the description is events applied over time elapsed instead.
	// The embedded log numbers its events, so its positions count them and the bar can show
	// them; KurrentDB's positions are byte offsets, good only for a percentage and the time left.
	if n.cfg.EventStore == eventStoreEmbedded {
		options = append(options, progressbar.OptionShowCount())
	}
	bar := progressbar.NewOptions64(int64(max(head.Commit, 1)), options...)
	var last projections.Progress
	pos, err := projections.Rebuild(ctx, projections.RebuildConfig{
		DB: n.readDB, ReadAll: n.store.ReadAll, LastPosition: n.store.LastPosition, Projection: p,
		Progress: func(pr projections.Progress) {
			last = pr
			bar.Describe("rebuilding " + p.Name() + ", " + eventRate(pr.Events, pr.Elapsed))
			// The log may grow while the rebuild runs: the bar's end moves with it.
			bar.ChangeMax64(int64(pr.Total))
			_ = bar.Set64(int64(pr.Done))
		},
	})
	_ = bar.Finish()
	if err != nil {
		return fmt.Errorf("rebuilding %s: %w", p.Name(), err)
	}
	fmt.Fprintf(stdout, "rebuilt %s: %d events in %s (%s), up to position %s\n",
		p.Name(), last.Events, last.Elapsed.Round(time.Millisecond), eventRate(last.Events, last.Elapsed), pos)
	return nil
}

// eventRate is "N events/s", events applied over elapsed; with nothing elapsed yet, as fast as
// the clock tells.
func eventRate(events uint64, elapsed time.Duration) string {
	return fmt.Sprintf("%.0f events/s", float64(events)/max(elapsed.Seconds(), 1e-3))
}

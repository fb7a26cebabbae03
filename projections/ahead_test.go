package projections_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
)

// TestRunnerStopsOnADamagedLog: a damaged log is no failure that passes. Run returns it, WaitFor
// returns it instead of waiting for ever, and the Runner does not resubscribe.
func TestRunnerStopsOnADamagedLog(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(300)...)
	damaged := fmt.Errorf("events.db: %w: database disk image is malformed", eventlog.ErrCorrupt)
	log.fail = func(after eventlog.Position) error {
		if after.Commit >= 100 {
			return damaged
		}
		return nil
	}
	db, _ := readmodeltest.TempDB(t)
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: &tally{t: t}, BatchSize: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, log.head()); !errors.Is(err, eventlog.ErrCorrupt) || ctx.Err() != nil {
		t.Fatalf("WaitFor: %v, want the damaged log's error, not a wait for ever", err)
	}
	if err := r.stop(); !errors.Is(err, eventlog.ErrCorrupt) {
		t.Fatalf("Run returned %v, want the damaged log's error", err)
	}
	if subs := log.subscribedAfter(); len(subs) != 1 {
		t.Errorf("subscribed after %v: the Runner retried a damaged log", subs)
	}
}

// TestCheckNotAhead: checkpoints at or behind the log's head pass, as does a database without
// checkpoints; one past the head (the log lost, or older than the read models) is an
// *AheadOfLogError naming each projection ahead.
func TestCheckNotAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := readmodeltest.TempDB(t)
	log := newMemLog()
	if err := projections.CheckNotAhead(ctx, db, log.LastPosition); err != nil {
		t.Fatalf("no checkpoints yet: %v", err)
	}
	log.append(things(50)...)
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: &tally{t: t}, BatchSize: 10})
	r.waitFor(t, log.head())
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if err := projections.CheckNotAhead(ctx, db, log.LastPosition); err != nil {
		t.Fatalf("checkpoint at the head: %v", err)
	}

	older := newMemLog()
	older.append(things(20)...)
	err := projections.CheckNotAhead(ctx, db, older.LastPosition)
	ahead, ok := errors.AsType[*projections.AheadOfLogError](err)
	if !ok || ahead.Head != older.head() || len(ahead.Ahead) != 1 || ahead.Ahead[0].Projection != "tally" || ahead.Ahead[0].Position != log.head() {
		t.Fatalf("a log older than the read model: %v, want tally ahead of 20", err)
	}
	err = projections.CheckNotAhead(ctx, db, newMemLog().LastPosition)
	if _, ok := errors.AsType[*projections.AheadOfLogError](err); !ok || err.Error() != "projections: read models exist for an empty log (tally at 50/50)" {
		t.Fatalf("an empty log: %v", err)
	}
}

// TestRewindToLog: a checkpoint past the log's head goes back to it, keeping nothing from beyond;
// one at or behind it stays.
func TestRewindToLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := readmodeltest.TempDB(t)
	log := newMemLog()
	log.append(things(50)...)
	r := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: &tally{t: t}, BatchSize: 10})
	r.waitFor(t, log.head())
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if from, rewound, err := projections.RewindToLog(ctx, db, "tally", log.LastPosition); err != nil || rewound || from != log.head() {
		t.Fatalf("at the head: from %s, rewound %t, %v; want it left alone", from, rewound, err)
	}
	older := newMemLog()
	older.append(things(20)...)
	from, rewound, err := projections.RewindToLog(ctx, db, "tally", older.LastPosition)
	if err != nil || !rewound || from != log.head() {
		t.Fatalf("ahead: from %s, rewound %t, %v; want rewound from 50", from, rewound, err)
	}
	if got := storedCheckpoint(t, db, "tally"); got != older.head() {
		t.Fatalf("checkpoint %s after the rewind, want %s", got, older.head())
	}
	if err := projections.CheckNotAhead(ctx, db, older.LastPosition); err != nil {
		t.Fatalf("after the rewind: %v", err)
	}
	if _, rewound, err := projections.RewindToLog(ctx, db, "nobody", older.LastPosition); err != nil || rewound {
		t.Fatalf("an unknown checkpoint: rewound %t, %v", rewound, err)
	}
}

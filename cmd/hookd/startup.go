package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/projections"
)

// logChecker is a store that can verify its own files: the embedded log.
type logChecker interface {
	// Check reads the whole log and returns an error matching eventlog.ErrCorrupt when it is damaged.
	Check(ctx context.Context) error
}

// emptyLog is the last position of a log that does not exist yet.
func emptyLog(context.Context) (eventlog.Position, error) { return eventlog.Start, nil }

// explain adds to an error that keeps the node from opening what the operator can do about it.
func (n *node) explain(err error) error {
	if ahead, ok := errors.AsType[*projections.AheadOfLogError](err); ok {
		return fmt.Errorf("%w: %s lacks events that the read models in %s applied (the log was lost, "+
			"or replaced by an older or another one). hookd does not start on it: restore the log from a "+
			"backup, or run `hookd projections rebuild` to rebuild the read models from the log as it is "+
			"(what the missing events did is then forgotten)",
			ahead, n.logName(), filepath.Join(n.cfg.DataDir, readModelsFile))
	}
	if errors.Is(err, eventlog.ErrCorrupt) {
		return fmt.Errorf("%w. The log %s is damaged and hookd does not start on it: restore it from a backup", err, n.logName())
	}
	return err
}

// logName says where the log is, for messages.
func (n *node) logName() string {
	if n.cfg.EventStore == eventStoreKurrentDB {
		return "the KurrentDB log at HOOKD_KURRENTDB_URL"
	}
	return filepath.Join(n.cfg.DataDir, logFile)
}

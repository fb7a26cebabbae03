package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
)

// checkpointer copies the WAL back into the file on a connection of its own, when the writer asks
// for it (while it holds a job: see writer.checkpoint). In WAL mode a checkpoint runs beside the
// writer's transactions: it copies the frames committed when it began, and commits made meanwhile
// only append frames after them. So an append does not wait for a checkpoint of the deletes' pages,
// as it did when the writer ran one between its commits; it waits for the writer alone. The copy's
// writes delay the commits' fsyncs, which costs little while the writer and the disk are mostly
// idle (a gentle job); behind, the writer takes no step of the job until the copy is done, so that
// the commits beside it are the appends' alone (checkpointFrames).
//
// SQLite's automatic checkpoint, which the writer runs after a commit that leaves the WAL past
// wal_autocheckpoint pages, still bounds the WAL: a checkpointer that runs beside commits never
// finds the WAL entirely copied, and only a checkpoint with no commit beside it lets the next
// commit start the WAL over. It then has only the frames copied by neither left to copy.
type checkpointer struct {
	conn   *sql.Conn
	stmt   *sql.Stmt
	logger *slog.Logger
	// wake asks for a checkpoint; a request made while one is asked or running is folded into it.
	wake chan struct{}
	// copied receives a value after each checkpoint, for a writer that waits for it (see copy).
	copied  chan struct{}
	closing <-chan struct{}
	stopped chan struct{}
	// exec runs the checkpoint; tests hold it.
	exec func(ctx context.Context) error
}

// request asks for a checkpoint without waiting for it.
func (c *checkpointer) request() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// copy asks for a checkpoint and returns a channel that receives once it has run. A checkpoint
// already running when it is asked for may answer instead (it was asked for gently, by a request
// nobody waits for): the writer then resumes a little early, never late.
func (c *checkpointer) copy() <-chan struct{} {
	select {
	case <-c.copied:
	default:
	}
	c.request()
	return c.copied
}

// run checkpoints at each request until closing is closed. A failure is logged and changes nothing:
// the automatic checkpoint remains.
func (c *checkpointer) run(ctx context.Context) {
	defer close(c.stopped)
	for {
		select {
		case <-c.closing:
			return
		case <-c.wake:
		}
		if err := c.exec(ctx); err != nil {
			c.logger.Warn("sqlitestore: checkpoint during deletes failed", "error", err)
		}
		select {
		case c.copied <- struct{}{}:
		default:
		}
	}
}

// newCheckpointer prepares the checkpoint on a connection of db, which it keeps.
func newCheckpointer(ctx context.Context, db *sql.DB, logger *slog.Logger, closing <-chan struct{}) (*checkpointer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	stmt, err := conn.PrepareContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	if err != nil {
		return nil, errors.Join(err, conn.Close())
	}
	c := &checkpointer{conn: conn, stmt: stmt, logger: logger, wake: make(chan struct{}, 1),
		copied: make(chan struct{}, 1), closing: closing, stopped: make(chan struct{})}
	c.exec = func(ctx context.Context) error {
		_, err := c.stmt.ExecContext(ctx)
		return err
	}
	return c, nil
}

// close releases the connection; run must have stopped, or never started.
func (c *checkpointer) close() error {
	return errors.Join(c.stmt.Close(), c.conn.Close())
}

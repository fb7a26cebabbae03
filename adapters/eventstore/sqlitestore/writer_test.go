package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/eventlog"
)

// TestAnAppendWaitsForOneStepAtMost: an append that arrives while a job's step runs stops the step
// (yield) and is answered before the job's next step starts, so it never waits for a second step,
// nor for a commit of the job's work before its own.
func TestAnAppendWaitsForOneStepAtMost(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTemp(t)
	started := make(chan struct{})
	answered := make(chan struct{})
	var (
		calls                int
		yielded, wasAnswered bool
	)
	// Hang guards only: each wait below ends as soon as the writer does what it should.
	const guard = time.Minute
	job := func(_ *sql.Conn, _ time.Duration, yield func() bool) (bool, error) {
		calls++
		switch calls {
		case 1:
			close(started)
			for deadline := time.Now().Add(guard); time.Now().Before(deadline); time.Sleep(50 * time.Microsecond) {
				if yield != nil && yield() {
					yielded = true
					return false, nil
				}
			}
			return false, errors.New("the step was never told that an append is waiting")
		default:
			select {
			case <-answered:
				wasAnswered = true
			case <-time.After(guard):
			}
			return true, nil
		}
	}
	result := make(chan error, 1)
	go func() { result <- s.onWriter(ctx, false, job) }()
	<-started
	if _, err := s.Append(ctx, "webhook-"+uuid.NewString(), eventlog.NoStream(), []eventlog.EventData{{ID: eventlog.EventID(uuid.New()), Type: "T"}}); err != nil {
		t.Fatal(err)
	}
	close(answered)
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if !yielded {
		t.Error("the step in progress was not told that an append was waiting")
	}
	if !wasAnswered {
		t.Errorf("the append was answered only after the job's step %d, want after the first", calls)
	}
}

// TestAGentleJobRestsBetweenSteps: a gentle job's next step starts no sooner than restFactor times
// as long as its last step's transaction took after that transaction ended, leaving the writer to
// the appends meanwhile. The gaps are compared with the steps' own durations, measured on the same
// clock, so the verdict holds on a fast machine and a slow one alike. (A job that is not gentle
// goes on at once; how soon depends on the disk's commits, so no test holds it to a time.)
func TestAGentleJobRestsBetweenSteps(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	var starts, ends []time.Time
	job := func(_ *sql.Conn, _ time.Duration, _ func() bool) (bool, error) {
		starts = append(starts, time.Now())
		time.Sleep(2 * time.Millisecond)
		ends = append(ends, time.Now())
		return len(starts) == 4, nil
	}
	if err := s.onWriter(t.Context(), true, job); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(starts); i++ {
		if gap, step := starts[i].Sub(ends[i-1]), ends[i-1].Sub(starts[i-1]); gap < restFactor*step {
			t.Errorf("step %d started %s after step %d, which worked %s: want a rest of %d times that",
				i+1, gap, i, step, restFactor)
		}
	}
}

// TestAJobPressingOnWaitsForTheCopyAndAppendsDoNot: once the steps of a job that is not gentle
// wrote checkpointFrames pages, the checkpointer copies the WAL back beside the writer, and the job
// takes no step until the copy is done, while appends are answered meanwhile: an append waits
// for its own commit, not for the copy nor for a step.
func TestAJobPressingOnWaitsForTheCopyAndAppendsDoNot(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTemp(t)
	copying := make(chan struct{})
	release := make(chan struct{})
	copyPages := s.checkpointer.exec
	// Set before the job is handed to the writer, which hands the request to the checkpointer.
	s.checkpointer.exec = func(copyCtx context.Context) error {
		close(copying)
		select {
		case <-release:
		case <-ctx.Done():
			// The test has ended: the store closes.
		}
		return copyPages(copyCtx)
	}
	var calls atomic.Int32
	released := false
	job := func(conn *sql.Conn, _ time.Duration, _ func() bool) (bool, error) {
		switch calls.Add(1) {
		case 1:
			// More than checkpointFrames pages.
			if _, err := conn.ExecContext(ctx, "CREATE TABLE filler (b BLOB)"); err != nil {
				return false, err
			}
			_, err := conn.ExecContext(ctx, "INSERT INTO filler VALUES (zeroblob(?))", (checkpointFrames+10)*PageSize)
			return false, err
		default:
			select {
			case <-release:
				released = true
			default:
			}
			return true, nil
		}
	}
	result := make(chan error, 1)
	go func() { result <- s.onWriter(ctx, false, job) }()
	// Hang guards only: each wait below ends as soon as the writer does what it should.
	const guard = time.Minute
	select {
	case <-copying:
	case err := <-result:
		t.Fatalf("the job ended (%v) without a copy of the WAL", err)
	case <-time.After(guard):
		t.Fatal("no copy of the WAL was asked for")
	}
	for range 3 {
		appended := make(chan error, 1)
		go func() {
			_, err := s.Append(ctx, "webhook-"+uuid.NewString(), eventlog.NoStream(), []eventlog.EventData{{ID: eventlog.EventID(uuid.New()), Type: "T"}})
			appended <- err
		}()
		select {
		case err := <-appended:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(guard):
			t.Fatal("an append waited for the copy of the WAL")
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the job took %d steps before the copy was done, want 1", n)
	}
	close(release)
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if !released {
		t.Error("the job's next step ran before the copy was done")
	}
}

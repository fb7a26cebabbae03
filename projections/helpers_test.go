package projections_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
)

// tally is a projection that writes down every event it is given, keyed by position, and reports an
// event applied twice as a test failure. Its hook runs after the rows are written and before the
// Runner commits: an error from it rolls the batch back, as a crash would.
type tally struct {
	t     testing.TB
	calls atomic.Int64
	hook  func(ctx context.Context, call int64, events []eventlog.RecordedEvent) error
}

func (p *tally) Name() string     { return "tally" }
func (p *tally) Tables() []string { return []string{"tally"} }

func (p *tally) Setup(ctx context.Context, tx *sql.Tx, s projections.Schema) error {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE `+s.Table("tally")+` (position INTEGER PRIMARY KEY, stream TEXT NOT NULL)`); err != nil {
		return err
	}
	// An index with a fixed base name, so that rebuilding twice proves index names do not clash.
	_, err := tx.ExecContext(ctx, `CREATE INDEX `+s.Index("tally_stream")+` ON `+s.Table("tally")+` (stream)`)
	return err
}

func (p *tally) Apply(ctx context.Context, tx *sql.Tx, s projections.Schema, events []eventlog.RecordedEvent) error {
	call := p.calls.Add(1)
	for _, e := range events {
		res, err := tx.ExecContext(ctx, `INSERT INTO `+s.Table("tally")+` (position, stream) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			e.Position.Commit, e.Stream)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			p.t.Errorf("event at %s applied twice", e.Position)
			return fmt.Errorf("event at %s applied twice", e.Position)
		}
	}
	if p.hook != nil {
		return p.hook(ctx, call, events)
	}
	return nil
}

// tallied returns the positions the live tally table holds.
func tallied(t testing.TB, db *sql.DB) []uint64 {
	t.Helper()
	rows, err := db.Query(`SELECT position FROM tally ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []uint64
	for rows.Next() {
		var p uint64
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// assertTallied checks that the tally holds every position from 1 to n exactly once.
func assertTallied(t testing.TB, db *sql.DB, n uint64) {
	t.Helper()
	got := tallied(t, db)
	if uint64(len(got)) != n {
		t.Fatalf("tally holds %d events, want %d", len(got), n)
	}
	for i, p := range got {
		if p != uint64(i+1) {
			t.Fatalf("tally[%d] = %d, want %d", i, p, i+1)
		}
	}
}

// storedCheckpoint reads the checkpoint table as an operator would.
func storedCheckpoint(t testing.TB, db *sql.DB, name string) eventlog.Position {
	t.Helper()
	var s string
	if err := db.QueryRow(`SELECT position FROM projection_checkpoints WHERE name = ?`, name).Scan(&s); err != nil {
		t.Fatalf("checkpoint %s: %v", name, err)
	}
	p, err := eventlog.ParsePosition(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// things returns n records of streams nobody projects but the tally.
func things(n int) []eventlog.RecordedEvent {
	records := make([]eventlog.RecordedEvent, n)
	for i := range records {
		records[i] = eventlog.RecordedEvent{Stream: fmt.Sprintf("thing-%d", i%7), Type: "ThingHappened", Data: []byte(`{}`)}
	}
	return records
}

// running is a Runner whose Run goes on in the background until stop.
type running struct {
	*projections.Runner
	cancel context.CancelFunc
	done   chan error

	stopOnce sync.Once
	err      error
}

func startRunner(t testing.TB, cfg projections.RunnerConfig) *running {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 20*time.Millisecond
	}
	r, err := projections.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{Runner: r, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- r.Run(ctx) }()
	t.Cleanup(func() { _ = run.stop() })
	return run
}

// stop ends Run and returns what it returned. It may be called more than once.
func (r *running) stop() error {
	r.stopOnce.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

func (r *running) waitFor(t testing.TB, pos eventlog.Position) {
	t.Helper()
	// A hang guard, not a speed check: rebuild tests run thousands of events under -race, beside
	// other packages on two cores.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.WaitFor(ctx, pos); err != nil {
		t.Fatalf("waiting for %s (at %s): %v", pos, r.Position(), err)
	}
}

// workload produces the webhook lifecycle of a busy service: creates, updates that change tags and
// event names, disables, enables, secret rotations and deletes over a few tenants and communities, each command through the
// aggregate and the codec as the application would.
type workload struct {
	t     testing.TB
	codec *eventcodec.Codec
	rng   *mrand.Rand
	clock time.Time

	mu         sync.Mutex
	live       []*tracked
	created    []createdIn
	scopes     [][2]string
	tagNames   []string
	eventNames []string
	rotations  int
}

// createdIn is a webhook id and the index of its scope in workload.scopes.
type createdIn struct {
	id    string
	scope int
}

type tracked struct {
	w       *webhook.Webhook
	written int // of w.Changes()
}

func newWorkload(t testing.TB, seed uint64) *workload {
	return &workload{
		t: t, codec: readmodeltest.Codec(t), rng: mrand.New(mrand.NewPCG(seed, seed)),
		clock:      time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		scopes:     [][2]string{{"t1", "c1"}, {"t1", "c2"}, {"t2", "c1"}},
		tagNames:   []string{"red", "green", "blue", "prod"},
		eventNames: []string{"order.created", "order.paid", "order.shipped"},
	}
}

func (w *workload) settings() webhook.Settings {
	var tags []string
	for _, tag := range w.tagNames {
		if w.rng.IntN(2) == 0 {
			tags = append(tags, tag)
		}
	}
	events := []string{w.eventNames[w.rng.IntN(len(w.eventNames))]}
	for _, name := range w.eventNames {
		if w.rng.IntN(3) == 0 {
			events = append(events, name) // sometimes twice: the view must subscribe it once
		}
	}
	return webhook.Settings{
		Name:         fmt.Sprintf("hook %d", w.rng.IntN(1000)),
		EventNames:   events,
		Tags:         tags,
		SuccessCodes: []int{200},
		API: webhook.Endpoint{
			URL:        "https://example.com/hook",
			AuthType:   webhook.AuthBasic,
			Credential: webhook.Credential{Username: "user", Password: "pa55word"},
		},
	}
}

// next runs one command and returns the records it appends, as one stream's append.
func (w *workload) next() []eventlog.RecordedEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var h *tracked
	if len(w.live) < 20 || w.rng.IntN(3) == 0 {
		i := w.rng.IntN(len(w.scopes))
		scope := w.scopes[i]
		created, err := webhook.Create(webhook.Creation{
			ID: newID(), TenantID: scope[0], CommunityID: scope[1], Settings: w.settings(),
			CreatedBy: "test", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		})
		if err != nil {
			w.t.Fatal(err)
		}
		h = &tracked{w: created}
		w.live = append(w.live, h)
		w.created = append(w.created, createdIn{id: created.ID(), scope: i})
	} else {
		i := w.rng.IntN(len(w.live))
		h = w.live[i]
		var err error
		switch w.rng.IntN(12) {
		case 0, 1, 2, 3:
			err = h.w.Update(w.settings())
		case 4, 5:
			err = h.w.Disable()
		case 6, 7:
			err = h.w.Enable()
		case 8, 9:
			w.rotations++
			err = h.w.RotateSecret(fmt.Sprintf("rotated-secret-%d", w.rotations), time.Hour, w.clock)
		default:
			err = h.w.Delete()
			w.live = append(w.live[:i], w.live[i+1:]...)
		}
		if err != nil {
			w.t.Fatal(err)
		}
	}
	changes := h.w.Changes()[h.written:]
	first := uint64(h.written)
	h.written = len(h.w.Changes())
	records := make([]eventlog.RecordedEvent, len(changes))
	for i, e := range changes {
		w.clock = w.clock.Add(time.Second)
		stream := webhook.Stream(h.w.ID())
		data, err := w.codec.Encode(stream, eventlog.EventID{}, e, eventlog.Metadata{Actor: "test", OccurredAt: w.clock})
		if err != nil {
			w.t.Fatal(err)
		}
		records[i] = eventlog.RecordedEvent{Stream: stream, Revision: first + uint64(i), Type: data.Type,
			Data: data.Data, Metadata: data.Metadata, Created: w.clock}
	}
	return records
}

// appendN runs commands until at least n events were appended to log, and returns the last position.
func (w *workload) appendN(log *memLog, n int) eventlog.Position {
	var last eventlog.Position
	for appended := 0; appended < n; {
		records := w.next()
		if len(records) == 0 {
			continue
		}
		last = log.append(records...)
		appended += len(records)
	}
	return last
}

func (w *workload) allCreated() []createdIn {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]createdIn(nil), w.created...)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

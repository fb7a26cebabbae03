package sqlitestore

import (
	"errors"
	"log/slog"
	"time"
)

// Options tune a Store. The zero value is ready to use: every zero field takes its default.
type Options struct {
	// Logger receives the store's diagnostics. Nil discards them.
	Logger *slog.Logger

	// MaxBatch caps how many appends one transaction commits. Appends queued while a batch is being
	// written go into the next one, so under load each fsync serves many callers. Default 256.
	MaxBatch int

	// PollInterval is how often a waiting subscription looks for events appended by another process.
	// Appends made through this Store wake subscriptions at once. Default 200ms.
	PollInterval time.Duration

	// BusyTimeout is how long a statement waits for a lock held by another process (a CLI appending
	// while the server runs) before it fails with an error matching eventlog.ErrUnavailable.
	// Default 5s.
	BusyTimeout time.Duration

	// MaxReaders caps the connections that serve reads and subscriptions. Default 8.
	MaxReaders int

	// FreePagesKept is how many free pages (of 4 KiB) a file created with auto_vacuum=INCREMENTAL
	// keeps for reuse after DeleteStreams; the rest go back to the file system. Appends reuse free
	// pages before they grow the file, so under retention a reserve saves moving pages back and
	// forth. Default 4096 (16 MiB).
	FreePagesKept int

	// CompressData stores each event's data and metadata together, S2-compressed against a
	// dictionary of hookd's event shapes, when that saves an eighth of them (pack.go). hookd sets
	// it by default (HOOKD_EMBEDDED_COMPRESS): on the delivery benchmark it cuts the disk written
	// per delivery by two fifths for CPU within the noise (docs/benchmarks.md, "Compressed against
	// a dictionary, and the read model packed"). Events stored compressed read back whatever this
	// option says.
	CompressData bool
}

// Defaults for the zero fields of Options.
const (
	DefaultMaxBatch      = 256
	DefaultPollInterval  = 200 * time.Millisecond
	DefaultBusyTimeout   = 5 * time.Second
	DefaultMaxReaders    = 8
	DefaultFreePagesKept = 4096
)

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.MaxReaders == 0 {
		o.MaxReaders = DefaultMaxReaders
	}
	if o.FreePagesKept == 0 {
		o.FreePagesKept = DefaultFreePagesKept
	}
	return o
}

// Validate reports every field that is out of range. Zero fields are valid: they take defaults.
func (o Options) Validate() error {
	var errs []error
	if o.MaxBatch < 0 {
		errs = append(errs, errors.New("sqlitestore: MaxBatch must not be negative"))
	}
	if o.PollInterval < 0 {
		errs = append(errs, errors.New("sqlitestore: PollInterval must not be negative"))
	}
	if o.BusyTimeout < 0 {
		errs = append(errs, errors.New("sqlitestore: BusyTimeout must not be negative"))
	}
	if o.MaxReaders < 0 {
		errs = append(errs, errors.New("sqlitestore: MaxReaders must not be negative"))
	}
	if o.FreePagesKept < 0 {
		errs = append(errs, errors.New("sqlitestore: FreePagesKept must not be negative"))
	}
	return errors.Join(errs...)
}

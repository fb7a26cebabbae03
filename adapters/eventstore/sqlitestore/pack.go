package sqlitestore

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// Event data of packMin bytes or more is stored DEFLATE-compressed when that saves at least an
// eighth of it. Most of what the log holds per delivery is JSON (the published payload, and the
// delivery's body, which repeats it escaped inside a string): compressed, a delivery's events take
// about half the pages, and so half the WAL frames, checkpoint writes and file space. Smaller data
// is stored as it is: deflate's framing would eat the gain.
const packMin = 256

// Values of the events.packed column.
const (
	packedNone    = 0
	packedDeflate = 1
)

var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed) // a valid level never fails
	return w
}}

// inflaters keeps flate readers for reuse: each holds a 32 KiB window that a new one would
// allocate and clear for every event read (every read model reads every event).
var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// pack returns data as it is to be stored and its packed value.
func pack(data []byte) ([]byte, int) {
	if len(data) < packMin {
		return data, packedNone
	}
	var buf bytes.Buffer
	buf.Grow(len(data) / 2)
	w := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(w)
	w.Reset(&buf)
	// Writes to a bytes.Buffer never fail.
	_, _ = w.Write(data)
	_ = w.Close()
	if buf.Len() > len(data)-len(data)/8 {
		return data, packedNone
	}
	return buf.Bytes(), packedDeflate
}

// unpack returns the data stored as packed.
func unpack(stored []byte, packed int64) ([]byte, error) {
	switch packed {
	case packedNone:
		return stored, nil
	case packedDeflate:
		r := inflaters.Get().(io.ReadCloser)
		defer inflaters.Put(r)
		// Resetting a flate reader never fails.
		_ = r.(flate.Resetter).Reset(bytes.NewReader(stored), nil)
		// JSON deflates to between a third and a half: one growth at most, usually none.
		var out bytes.Buffer
		out.Grow(3 * len(stored))
		if _, err := out.ReadFrom(r); err != nil {
			return nil, fmt.Errorf("inflating event data: %w", err)
		}
		return out.Bytes(), nil
	}
	return nil, fmt.Errorf("event data packed as %d, which this build does not read", packed)
}

package sqlitestore

import (
	"bytes"
	"compress/flate"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/s2"

	"github.com/hookd/hookd/domain/eventlog"
)

// With Options.CompressData, an event's data and metadata are stored together, S2-compressed
// against a dictionary, when that saves at least an eighth of them. Most of a delivery's events are
// small JSON records whose keys and fixed values repeat from one event to the next (a schedule of
// about 520 bytes and its metadata of 129, an attempt of 200 and 73): alone they barely compress,
// but primed with records of the same shapes they shrink by two to three fifths, and a published
// event's JSON payload shrinks as JSON does. Every byte saved is saved twice, in the WAL and when a
// checkpoint copies the page back (docs/benchmarks.md, "Compressed against a dictionary, and the
// read model packed").
//
// Why S2 and one block an event: against the same dictionary zstd stored a tenth less but cost
// hookd a fifth more CPU per delivery, most of it resetting its tables and building entropy tables
// for each small record; S2 (LZ77 only) clears a 64 KiB table for each block, which for records
// this small is most of its cost, so data and metadata share a block (and the metadata's ids
// match the data's).
//
// The events.packed column says how an event was stored. A value this build does not know fails
// the read of that event. S2 blocks carry no checksum, so the block ends with the CRC-32C of what
// it decodes to: damage fails the read instead of returning other bytes.
const (
	// packedNone is data and metadata stored as they came.
	packedNone = 0
	// packedDeflate is data DEFLATE-compressed, metadata as it came: what builds before
	// dictionaries wrote. It is only read now.
	packedDeflate = 1
	// packedS2Dict1 is, in the data column, an S2 block made with dictionary1 of joined (see
	// join), then the CRC-32C of joined, little-endian; the metadata column is NULL.
	packedS2Dict1 = 2
)

// dictionary1 is a raw dictionary: records shaped like the events hookd appends, written by hand
// with empty values (so no tenant's data is in the binary), the most frequent last, where offsets
// are shortest. Rows written with it need exactly these bytes to be read back: never edit it; a
// better dictionary is a new file and a new packed value (TestDictionaryNeverChanges).
//
//go:embed dictionary-1.txt
var dictionary1 []byte

// s2Dict1 is dictionary1 as S2 uses it; its first repeat offset points at a delivery record's
// start, which most records begin like.
var s2Dict1 = sync.OnceValue(func() *s2.Dict { return s2.MakeDict(dictionary1, []byte(`{"deliveryId":"`)) })

const crcBytes = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// packMin is the smallest event worth compressing: below it the dictionary's matches save a few
// bytes at most.
const packMin = 32

// maxUnpacked bounds what one stored value may inflate to, so that a damaged file cannot make a
// read allocate without limit. Appended events are far smaller (the API takes payloads of at most
// 256 KiB).
const maxUnpacked = 64 << 20

// The first byte of a joined event says which of its parts were nil, so that they read back nil.
const (
	joinedDataNil     = 1
	joinedMetadataNil = 2
)

// storedEvent is an event as its row holds it.
type storedEvent struct {
	data, metadata []byte
	packed         int64
}

// store returns events as their rows are to hold them: compressed where that pays when compress
// is set, as they are otherwise. Appenders call it before queueing, so that compression runs beside
// the single writer and not on it.
func store(events []eventlog.EventData, compress bool) []storedEvent {
	if !compress {
		return storeAll(events, false)
	}
	job := packJob{events: events, done: make(chan []storedEvent, 1)}
	packJobs() <- job
	return <-job.done
}

// storeAll returns events as store does, on the calling goroutine.
func storeAll(events []eventlog.EventData, compress bool) []storedEvent {
	stored := make([]storedEvent, len(events))
	for i, ev := range events {
		stored[i] = storedEvent{data: ev.Data, metadata: ev.Metadata}
		if !compress {
			continue
		}
		if packed, ok := pack(ev.Data, ev.Metadata); ok {
			stored[i] = storedEvent{data: packed, packed: packedS2Dict1}
		}
	}
	return stored
}

// packJob is one append's events for a packer.
type packJob struct {
	events []eventlog.EventData
	done   chan []storedEvent
}

// packJobs feeds the packers: GOMAXPROCS goroutines, started with the first compressing append,
// that compress for every Store of the process. S2 clears a 64 KiB table on the stack for each
// block, so a goroutine that compresses grows its stack to 128 KiB: on the appenders' own
// goroutines (HTTP handlers, hundreds of them) that took hookd's stacks from 7 to 16 MB under the
// delivery benchmark and its peak RSS 20 MB higher.
var packJobs = sync.OnceValue(func() chan packJob {
	jobs := make(chan packJob)
	for range runtime.GOMAXPROCS(0) {
		go func() {
			for job := range jobs {
				job.done <- storeAll(job.events, true)
			}
		}()
	}
	return jobs
})

// scratch holds the buffers pack joins and encodes in, so that only the result is allocated.
var scratch = sync.Pool{New: func() any { return new([2][]byte) }}

// pack returns data and metadata compressed as packedS2Dict1, or false when that does not save an
// eighth.
func pack(data, metadata []byte) ([]byte, bool) {
	size := len(data) + len(metadata)
	if size < packMin {
		return nil, false
	}
	bufs := scratch.Get().(*[2][]byte)
	defer scratch.Put(bufs)
	joined := join(bufs[0][:0], data, metadata)
	bufs[0] = joined
	if n := s2.MaxEncodedLen(len(joined)) + crcBytes; cap(bufs[1]) < n {
		bufs[1] = make([]byte, 0, n)
	}
	out := s2Dict1().Encode(bufs[1][:0], joined)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(joined, castagnoli))
	bufs[1] = out
	if len(out) > size-size/8 {
		return nil, false
	}
	return bytes.Clone(out), true
}

// join appends to dst a flags byte, the length of data as a uvarint, data and metadata.
func join(dst, data, metadata []byte) []byte {
	var flags byte
	if data == nil {
		flags |= joinedDataNil
	}
	if metadata == nil {
		flags |= joinedMetadataNil
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(data)))
	dst = append(dst, data...)
	return append(dst, metadata...)
}

// unpackEvent returns an event's data and metadata as they were appended. Its arguments are the
// driver's until the next Scan; what it returns is not.
func unpackEvent(data, metadata []byte, packed int64) ([]byte, []byte, error) {
	switch packed {
	case packedNone:
		return bytes.Clone(data), bytes.Clone(metadata), nil
	case packedDeflate:
		d, err := inflate(data)
		if err != nil {
			return nil, nil, fmt.Errorf("event data: %w", err)
		}
		return d, bytes.Clone(metadata), nil
	case packedS2Dict1:
		if metadata != nil {
			return nil, nil, errors.New("event packed whole has metadata beside it")
		}
		return unpackS2(data)
	}
	return nil, nil, fmt.Errorf("event stored packed as %d, which this build does not read", packed)
}

// unpackS2 reads a packedS2Dict1 value back into data and metadata.
func unpackS2(stored []byte) ([]byte, []byte, error) {
	if len(stored) < crcBytes {
		return nil, nil, fmt.Errorf("s2: %d bytes, too short for its checksum", len(stored))
	}
	block, sum := stored[:len(stored)-crcBytes], binary.LittleEndian.Uint32(stored[len(stored)-crcBytes:])
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, nil, fmt.Errorf("s2: %w", err)
	}
	if n > maxUnpacked {
		return nil, nil, fmt.Errorf("s2: inflates to %d bytes, over %d", n, maxUnpacked)
	}
	joined, err := s2Dict1().Decode(nil, block)
	if err != nil {
		return nil, nil, fmt.Errorf("s2: %w", err)
	}
	if crc32.Checksum(joined, castagnoli) != sum {
		return nil, nil, errors.New("s2: checksum does not match: the value is damaged")
	}
	if len(joined) == 0 {
		return nil, nil, errors.New("s2: empty")
	}
	flags, rest := joined[0], joined[1:]
	size, k := binary.Uvarint(rest)
	if k <= 0 || size > uint64(len(rest)-k) {
		return nil, nil, errors.New("s2: data length out of range")
	}
	rest = rest[k:]
	// Both parts share joined's array; the caller owns it.
	data, metadata := rest[:size:size], rest[size:]
	if flags&joinedDataNil != 0 {
		if len(data) > 0 {
			return nil, nil, errors.New("s2: data both nil and not")
		}
		data = nil
	}
	if flags&joinedMetadataNil != 0 {
		if len(metadata) > 0 {
			return nil, nil, errors.New("s2: metadata both nil and not")
		}
		metadata = nil
	}
	return data, metadata, nil
}

// inflate returns DEFLATE-compressed data as it was.
func inflate(stored []byte) ([]byte, error) {
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	// Resetting a flate reader never fails.
	_ = r.(flate.Resetter).Reset(bytes.NewReader(stored), nil)
	var out bytes.Buffer
	out.Grow(3 * len(stored))
	if _, err := out.ReadFrom(io.LimitReader(r, maxUnpacked+1)); err != nil {
		return nil, fmt.Errorf("inflating: %w", err)
	}
	if out.Len() > maxUnpacked {
		return nil, fmt.Errorf("inflates past %d bytes", maxUnpacked)
	}
	return out.Bytes(), nil
}

// inflaters keeps flate readers for reuse: each holds a 32 KiB window that a new one would
// allocate and clear.
var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

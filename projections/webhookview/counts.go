package webhookview

import (
	"cmp"
	"encoding/binary"
	"errors"
	"slices"
)

// blockCount is how many rows of a tag fall in one block of seqs.
type blockCount struct {
	block int64
	n     int64
}

// blockCounts are the non-empty blocks of a tag, by block. Packed into one value, they let a fetch find
// the block a page starts in with a single lookup: a community of a million webhooks has fewer than a
// thousand blocks, a few KiB.
type blockCounts []blockCount

// encode packs the counts as pairs of uvarints: the gap to the previous block, and the count.
func (c blockCounts) encode() []byte {
	out := make([]byte, 0, 4*len(c))
	prev := int64(0)
	for _, b := range c {
		out = binary.AppendUvarint(out, uint64(b.block-prev))
		out = binary.AppendUvarint(out, uint64(b.n))
		prev = b.block
	}
	return out
}

var errBadBlocks = errors.New("webhookview: malformed block counts")

func decodeBlocks(data []byte) (blockCounts, error) {
	var (
		c    blockCounts
		prev int64
	)
	for len(data) > 0 {
		gap, n := binary.Uvarint(data)
		if n <= 0 {
			return nil, errBadBlocks
		}
		count, m := binary.Uvarint(data[n:])
		if m <= 0 {
			return nil, errBadBlocks
		}
		data = data[n+m:]
		prev += int64(gap)
		c = append(c, blockCount{block: prev, n: int64(count)})
	}
	return c, nil
}

// add changes the count of block by delta, dropping the block when it ends empty.
func (c blockCounts) add(block, delta int64) blockCounts {
	i, found := slices.BinarySearchFunc(c, block, func(b blockCount, block int64) int {
		return cmp.Compare(b.block, block)
	})
	switch {
	case !found:
		return slices.Insert(c, i, blockCount{block: block, n: delta})
	case c[i].n+delta == 0:
		return slices.Delete(c, i, i+1)
	}
	c[i].n += delta
	return c
}

// locate returns the block that holds the row at offset (0-based) and how many rows come before
// that block. ok is false when offset is past the last row.
func (c blockCounts) locate(offset int64) (block, before int64, ok bool) {
	for _, b := range c {
		if offset < before+b.n {
			return b.block, before, true
		}
		before += b.n
	}
	return 0, before, false
}

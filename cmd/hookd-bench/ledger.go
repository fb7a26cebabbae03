package main

import (
	"sync"
	"time"
)

// ledger records, per event sequence number, when hookd accepted it (the 202 answered) and when the
// receiver first had it. A delivery may arrive before its 202 does, so either may come first.
type ledger struct {
	mu       sync.Mutex
	accepted []int64 // unix nanoseconds, 0: not (yet)
	received []int64
	// nAccepted counts accepted events, nBoth those of them also received: the drain is over when
	// they are equal.
	nAccepted, nBoth int
}

func grow(s []int64, n int) []int64 {
	for len(s) < n {
		s = append(s, 0)
	}
	return s
}

// accept records events first..first+count-1 as accepted at at.
func (l *ledger) accept(first, count int, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepted = grow(l.accepted, first+count)
	l.received = grow(l.received, first+count)
	for seq := first; seq < first+count; seq++ {
		l.accepted[seq] = at.UnixNano()
		l.nAccepted++
		if l.received[seq] != 0 {
			l.nBoth++
		}
	}
}

// receive records event seq as received at at and reports whether it is the first receipt.
func (l *ledger) receive(seq int, at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepted = grow(l.accepted, seq+1)
	l.received = grow(l.received, seq+1)
	if l.received[seq] != 0 {
		return false
	}
	l.received[seq] = at.UnixNano()
	if l.accepted[seq] != 0 {
		l.nBoth++
	}
	return true
}

// outstanding is how many accepted events have not been received yet.
func (l *ledger) outstanding() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nAccepted - l.nBoth
}

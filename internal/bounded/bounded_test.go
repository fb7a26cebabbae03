package bounded

import (
	"fmt"
	"runtime"
	"testing"
)

func TestMapKeepsAtMostItsSize(t *testing.T) {
	m := New[int](3)
	for i := range 10 {
		m.Put(fmt.Sprint(i), i)
	}
	held := 0
	for i := range 10 {
		if v, ok := m.Get(fmt.Sprint(i)); ok {
			held++
			if v != i {
				t.Errorf("Get(%d) = %d", i, v)
			}
		}
	}
	if held != 3 {
		t.Errorf("the map holds %d entries, want 3", held)
	}
	if v, ok := m.Get("9"); !ok || v != 9 {
		t.Errorf("the last entry put is gone: %d, %v", v, ok)
	}
}

func TestMapReplacesWithoutEvicting(t *testing.T) {
	m := New[string](2)
	m.Put("a", "1")
	m.Put("b", "2")
	m.Put("a", "3") // a replacement, not a new entry: nothing is evicted
	if v, _ := m.Get("a"); v != "3" {
		t.Errorf("a = %q, want 3", v)
	}
	if v, ok := m.Get("b"); !ok || v != "2" {
		t.Errorf("b = %q, %v: evicted by a replacement", v, ok)
	}
}

func TestMapTakeRemoves(t *testing.T) {
	m := New[int](2)
	m.Put("a", 1)
	if v, ok := m.Take("a"); !ok || v != 1 {
		t.Fatalf("Take(a) = %d, %v", v, ok)
	}
	if _, ok := m.Get("a"); ok {
		t.Error("a is still there after Take")
	}
	if _, ok := m.Take("a"); ok {
		t.Error("a taken twice")
	}
}

// TestMapTakesMemoryForWhatItHolds: an empty Map sized for a million entries costs what an empty map
// does, not the million (preallocated, it took 56 MB), and filling it takes memory as it goes.
func TestMapTakesMemoryForWhatItHolds(t *testing.T) {
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	var m *Map[int]
	if got := allocated(func() { m = New[int](1 << 20) }); got > 64<<10 {
		t.Errorf("an empty Map of size 1<<20 took %d bytes", got)
	}
	m.Put("a", 1)
	if v, ok := m.Get("a"); !ok || v != 1 {
		t.Errorf("Get(a) = %d, %v", v, ok)
	}
}

package aios_test

import (
	"bytes"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
)

type fixedClockForTest struct{ t time.Time }

func (c fixedClockForTest) Now() time.Time { return c.t }

func TestULIDFormatAndTime(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	g := aios.NewULIDGenerator(fixedClockForTest{at}, bytes.NewReader(make([]byte, 64)))
	id := g.NewID()
	if len(id) != 26 {
		t.Fatalf("len %d: %s", len(id), id)
	}
	// 1700000000123 ms in Crockford base32 over 10 digits, zero entropy.
	if want := "01HF7YAT3V0000000000000000"; id != want {
		t.Errorf("id %s, want %s", id, want)
	}
	got, err := aios.ParseULIDTime(id)
	if err != nil || !got.Equal(at) {
		t.Errorf("ParseULIDTime = %v, %v; want %v", got, err, at)
	}
	for _, bad := range []string{"", "short", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "0IHF7YAT3V0000000000000000", "01HF7YAT!V0000000000000000", "01HF7YAT3V00000000000000!!", "01HF7YAT3V000000000000000U"} {
		if _, err := aios.ParseULIDTime(bad); !errors.Is(err, aios.ErrBadULID) {
			t.Errorf("ParseULIDTime(%q) = %v, want ErrBadULID", bad, err)
		}
	}
}

// Within one millisecond (and when the clock steps back) ids keep increasing.
func TestULIDMonotonic(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	clock := &steppingClockForTest{t: at}
	g := aios.NewULIDGenerator(clock, nil)
	var ids []string
	for i := range 2000 {
		if i == 1000 {
			clock.set(at.Add(-time.Second)) // the wall clock goes backwards
		}
		ids = append(ids, g.NewID())
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids are not increasing")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}

// A clock at or before the epoch (a zero time.Time, say) reads as
// millisecond 0; ids must still increase.
func TestULIDMonotonicAtEpoch(t *testing.T) {
	for _, at := range []time.Time{{}, time.UnixMilli(0), time.UnixMilli(-5)} {
		g := aios.NewULIDGenerator(fixedClockForTest{at}, nil)
		prev := g.NewID()
		for range 100 {
			id := g.NewID()
			if id <= prev {
				t.Fatalf("clock at %v: %s after %s", at, id, prev)
			}
			prev = id
		}
	}
}

// When the 80 random bits run out within a millisecond, ids go on
// increasing by borrowing the next millisecond.
func TestULIDRandomPartExhausted(t *testing.T) {
	g := aios.NewULIDGenerator(fixedClockForTest{time.UnixMilli(1700000000000)}, bytes.NewReader(bytes.Repeat([]byte{0xff}, 1000)))
	prev := g.NewID()
	for range 20 {
		id := g.NewID()
		if id <= prev {
			t.Fatalf("%s after %s", id, prev)
		}
		prev = id
	}
}

func TestULIDConcurrentUnique(t *testing.T) {
	g := aios.NewULIDGenerator(nil, nil)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				id := g.NewID()
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate %s", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type steppingClockForTest struct {
	mu sync.Mutex
	t  time.Time
}

func (c *steppingClockForTest) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *steppingClockForTest) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

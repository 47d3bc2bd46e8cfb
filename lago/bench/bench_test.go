package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/journal"
)

// TestRunSmall runs the whole table at toy sizes: it checks that every row
// is produced and sane, not how fast anything is.
func TestRunSmall(t *testing.T) {
	res, err := Run(context.Background(), Config{
		Dir: t.TempDir(), SyncOps: 20, Writers: []int{1, 8}, PerWriter: 10, ReplayEvents: 3000, Subscribers: 5, FanoutEvents: 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 9 {
		t.Fatalf("%d rows", len(res.Rows))
	}
	for _, r := range res.Rows {
		if r.Rate <= 0 || r.Ops <= 0 {
			t.Errorf("row %+v", r)
		}
	}
	var b strings.Builder
	res.Print(&b)
	if !strings.Contains(b.String(), "replay raw bytes") || !strings.Contains(b.String(), "lago single writer / raw bbolt") {
		t.Fatalf("table:\n%s", b.String())
	}
	t.Log("\n" + b.String())
}

func BenchmarkAppendSingleDurable(b *testing.B) {
	j, err := journal.Open(filepath.Join(b.TempDir(), "j.db"), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := j.Append(ctx, Event(fmt.Sprint("e", i), "s", "main")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendParallelDurable(b *testing.B) {
	j, err := journal.Open(filepath.Join(b.TempDir(), "j.db"), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	b.SetParallelism(32) // 32 x GOMAXPROCS writers
	var n atomicCounter
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.next()
			if _, err := j.Append(ctx, Event(fmt.Sprint("e", i), fmt.Sprint("s", i%16), "main")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkReplayRaw(b *testing.B) { benchReplay(b, true) }

func BenchmarkReplayDecoded(b *testing.B) { benchReplay(b, false) }

func benchReplay(b *testing.B, raw bool) {
	const n = 20000
	dir := b.TempDir()
	j, err := journal.Open(filepath.Join(dir, "j.db"), journal.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	st := aios.StreamID{Session: "s", Branch: "main"}
	evs := make([]aios.EventEnvelope, n)
	for i := range evs {
		evs[i] = Event(fmt.Sprint("e", i), "s", "main")
	}
	if _, err := j.Append(ctx, evs...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c := 0
		if raw {
			for _, err := range j.ReadRaw(ctx, aios.ReadQuery{Stream: st}) {
				if err != nil {
					b.Fatal(err)
				}
				c++
			}
		} else {
			for _, err := range j.Read(ctx, aios.ReadQuery{Stream: st}) {
				if err != nil {
					b.Fatal(err)
				}
				c++
			}
		}
		if c != n {
			b.Fatalf("read %d", c)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendParallelNoSync measures the CPU cost of an append (encode,
// seal, bbolt put) with 64 writers and no fsync.
func BenchmarkAppendParallelNoSync(b *testing.B) {
	j, err := journal.Open(filepath.Join(b.TempDir(), "j.db"), journal.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	b.SetParallelism(32)
	var n atomicCounter
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.next()
			if _, err := j.Append(ctx, Event(fmt.Sprint("e", i), fmt.Sprint("s", i%16), "main")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

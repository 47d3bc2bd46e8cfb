package gate

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/lago/journal"
)

// BenchmarkEmbeddedDecide is what the runtime pays per turn for the default
// gate on lago's journal: the timeout wrapper, a catch-up read of the
// stream's tail (one new event per decision) and the decision.
// BenchmarkLagoReadOne, lago reading that one event back, is the yardstick.
func BenchmarkEmbeddedDecide(b *testing.B) {
	j, err := journal.Open(filepath.Join(b.TempDir(), "j.db"), journal.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	g, err := Embedded(j, controller.DefaultConfig(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	evs := make([]aios.EventEnvelope, b.N+1)
	for i := range evs {
		evs[i] = aios.EventEnvelope{EventID: fmt.Sprintf("01JBENCH%018d", i), SessionID: "s1", BranchID: "main",
			Timestamp: 1_767_225_600_000_000 + uint64(i)*1000, Payload: &aios.UserMessage{Content: "hi"}, SchemaVersion: 1}
	}
	if _, err := g.Decide(ctx, stream); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := j.Append(ctx, evs[i]); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := g.Check(ctx, stream); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEmbeddedDecideIdle: nothing new since the last decision.
func BenchmarkEmbeddedDecideIdle(b *testing.B) {
	j, err := journal.Open(filepath.Join(b.TempDir(), "j.db"), journal.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	g, _ := Embedded(j, controller.DefaultConfig(), Options{})
	ctx := context.Background()
	for b.Loop() {
		if _, err := g.Check(ctx, stream); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLagoReadOne(b *testing.B) {
	j, err := journal.Open(filepath.Join(b.TempDir(), "j.db"), journal.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	for i := range 100 {
		e := aios.EventEnvelope{EventID: fmt.Sprintf("01JBENCH%018d", i), SessionID: "s1", BranchID: "main",
			Timestamp: 1_767_225_600_000_000 + uint64(i)*1000, Payload: &aios.UserMessage{Content: "hi"}, SchemaVersion: 1}
		if _, err := j.Append(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		for _, err := range j.Read(ctx, aios.ReadQuery{Stream: stream, After: 99}) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

package controller

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/lifeos/life/aios"
)

// Targets (issue 7): under 5 µs per event folded, under 50 µs per gating
// decision. BenchmarkBaselineDecode decodes one envelope from its wire JSON,
// the cost every consumer of the journal pays anyway, as the yardstick.

func benchEvents(n int) []aios.EventEnvelope {
	return build("b", randomSteps(rand.New(rand.NewPCG(3, 5)), n))
}

func BenchmarkBaselineDecode(b *testing.B) {
	evs := benchEvents(1024)
	raw := make([][]byte, len(evs))
	for i, e := range evs {
		raw[i], _ = aios.EncodeEnvelope(e)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := aios.DecodeEnvelope(raw[i%len(raw)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFold is one event folded and the rules re-evaluated (the whole
// per-event cost of Controller.Apply), over a random 16k-event stream that
// is started afresh at each lap so that timestamps keep moving forward.
func BenchmarkFold(b *testing.B) {
	c, _ := New(DefaultConfig())
	evs := benchEvents(1 << 14)
	id := aios.StreamID{Session: "b", Branch: "main"}
	st := c.NewStream(id)
	changes := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % len(evs)
		if k == 0 && i > 0 {
			st = c.NewStream(id)
		}
		changes += len(c.Apply(st, &evs[k]))
	}
	b.ReportMetric(float64(changes)/float64(b.N), "changes/event")
}

// BenchmarkFoldProjection is the projection alone, without the rules.
func BenchmarkFoldProjection(b *testing.B) {
	c, _ := New(DefaultConfig())
	p := c.Projector()
	evs := benchEvents(1 << 14)
	id := aios.StreamID{Session: "b", Branch: "main"}
	s := p.NewState(id)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % len(evs)
		if k == 0 && i > 0 {
			s = p.NewState(id)
		}
		p.Apply(s, &evs[k])
	}
}

// BenchmarkDecide is one gating decision from a hub holding 1,000 streams.
func BenchmarkDecide(b *testing.B) {
	c, _ := New(DefaultConfig())
	h := NewHub(c)
	evs := benchEvents(200)
	ids := make([]aios.StreamID, 1000)
	for s := range ids {
		ids[s] = aios.StreamID{Session: "b" + string(rune('a'+s%26)) + string(rune('a'+s/26%26)), Branch: "main"}
		for i := range evs {
			e := evs[i]
			e.SessionID = ids[s].Session
			h.Apply(&e)
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := h.Decide(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

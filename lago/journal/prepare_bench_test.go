package journal

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
)

func benchEvent() aios.EventEnvelope {
	return aios.EventEnvelope{
		EventID: "01JABCDEFGHJKMNPQRSTVWXYZ0", SessionID: "bench-1", BranchID: "main", Timestamp: 1700000000000000,
		Payload:  &aios.UserMessage{Content: strings.Repeat("m", 100)},
		Metadata: map[string]string{aios.MetaAgentID: "agent-bench"}, SchemaVersion: 1,
	}
}

func BenchmarkPrepare(b *testing.B) {
	traced := benchEvent()
	traced.SetTrace("0734187ea79f34a31fae19e9f3e9b740", "7c7a28292ddc58be")
	actor := benchEvent()
	actor.Metadata[aios.MetaActor] = `{"type":"system","component":"arcan-daemon"}`
	for _, c := range []struct {
		name string
		e    aios.EventEnvelope
	}{{"agent", benchEvent()}, {"traced", traced}, {"escaped", actor}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := prepare(c.e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeEnvelope(b *testing.B) {
	e := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		aios.EncodeEnvelope(e)
	}
}

func BenchmarkSeal(b *testing.B) {
	p, _ := prepare(benchEvent())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.seal(uint64(i), nil, logHeader(p.key, uint64(i), len(p.enc)+100))
	}
}

// BenchmarkCommitCPU is the committer's CPU per event without fsync: 64
// events over 16 streams per append, as a 64-writer batch would bring.
func BenchmarkCommitCPU(b *testing.B) {
	j, err := Open(b.TempDir()+"/j.db", Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	batch := make([]aios.EventEnvelope, 64)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range batch {
			e := benchEvent()
			e.EventID = "ev-" + strconv.Itoa(n)
			e.SessionID = "bench-" + strconv.Itoa(n%16)
			batch[i] = e
			n++
		}
		if _, err := j.Append(context.Background(), batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}

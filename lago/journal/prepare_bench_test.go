package journal

import (
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
	e := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := prepare(e); err != nil {
			b.Fatal(err)
		}
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

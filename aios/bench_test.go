package aios_test

import (
	"encoding/json"
	"testing"

	"github.com/lifeos/life/aios"
)

func benchEvents(b *testing.B) [][]byte {
	var items []json.RawMessage
	if err := json.Unmarshal(readFixture(b, "all-kinds.json"), &items); err != nil {
		b.Fatal(err)
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		env, err := aios.DecodeEnvelope(it)
		if err != nil {
			b.Fatal(err)
		}
		out[i], _ = aios.EncodeEnvelope(env)
	}
	return out
}

// BenchmarkDecodeEnvelope decodes the 74 kinds of all-kinds.json round robin;
// the baseline is encoding/json into a generic map, the least any decoder does.
func BenchmarkDecodeEnvelope(b *testing.B) {
	evs := benchEvents(b)
	b.Run("aios", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if _, err := aios.DecodeEnvelope(evs[i%len(evs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-map", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			var m map[string]any
			if err := json.Unmarshal(evs[i%len(evs)], &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncodeEnvelope(b *testing.B) {
	evs := benchEvents(b)
	envs := make([]aios.EventEnvelope, len(evs))
	for i, e := range evs {
		envs[i], _ = aios.DecodeEnvelope(e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := aios.EncodeEnvelope(envs[i%len(envs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeTypical decodes the kind of event a run journals most: a
// small payload with trace metadata.
func BenchmarkDecodeTypical(b *testing.B) {
	raw := []byte(`{"event_id":"01M84DDAEC9D8GBZ0GK9MRNK7J","session_id":"01M84DDAEC9D8GBZ0GK9MRNK7K","branch_id":"main","run_id":"01M84DDAEC9D8GBZ0GK9MRNK7M","seq":42,"timestamp":1795400000000000,"payload":{"type":"PhaseEntered","phase":"deliberate"},"metadata":{"digest":"4f1b0c9d7e2a6b3c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e","span_id":"7c7a28292ddc58be","trace_id":"0734187ea79f34a31fae19e9f3e9b740"},"schema_version":1}`)
	b.Run("aios", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := aios.DecodeEnvelope(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-map", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

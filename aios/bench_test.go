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

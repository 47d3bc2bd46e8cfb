package journal

import (
	"bytes"
	"testing"

	"github.com/lifeos/life/aios"
)

// TestSealFastPathMatchesFallback checks that prepare's fast path (the seq
// and digest spliced into the encoded bytes) stores exactly what encoding
// the sealed envelope again stores, for metadata on both sides of the
// digest key, escaped values and none at all.
func TestSealFastPathMatchesFallback(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
		fast bool // the fast path applies
	}{
		{"none", nil, true},
		{"empty", map[string]string{}, true},
		{"below digest only", map[string]string{aios.MetaAgentID: "agent-1"}, true},
		{"above digest only", map[string]string{aios.MetaTraceID: "0734187ea79f34a31fae19e9f3e9b740", aios.MetaSpanID: "7c7a28292ddc58be"}, true},
		{"both sides", map[string]string{aios.MetaAgentID: "a", aios.MetaTraceID: "t", aios.MetaSpanID: "s", "call_id": "c"}, true},
		{"escaped value", map[string]string{aios.MetaActor: `{"type":"system","component":"arcan-daemon"}`, "zz": "line\nbreak"}, true},
		{"escaped key", map[string]string{"q\"uote": "v", "\u00e9t\u00e9": "\u00fcber"}, true},
		{"stale digest dropped", map[string]string{aios.MetaDigest: "ffff", aios.MetaAgentID: "a"}, true},
		{"many keys", map[string]string{"a": "1", "b": "2", "c": "3", "e": "4", "f": "5", "g": "6", "h": "7", "i": "8", "j": "9", "k": "10"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, sv := range []uint8{1, 0, 200} {
				e := benchEvent()
				e.Metadata = tc.md
				e.SchemaVersion = sv
				p, err := prepare(e)
				if err != nil {
					t.Fatal(err)
				}
				if got := p.fallback == nil; got != tc.fast {
					t.Fatalf("schema %d: fast path %v, want %v", sv, got, tc.fast)
				}
				slow := p
				slow.fallback = &e
				if _, ok := e.Metadata[aios.MetaDigest]; ok {
					c := e
					c.Metadata = map[string]string{}
					for k, v := range e.Metadata {
						if k != aios.MetaDigest {
							c.Metadata[k] = v
						}
					}
					slow.fallback = &c
				}
				prev := bytes.Repeat([]byte{7}, 32)
				for _, seq := range []uint64{1, 42, 1 << 40} {
					got, gotDigest := p.seal(seq, prev, nil)
					want, wantDigest := slow.seal(seq, prev, nil)
					if !bytes.Equal(got, want) || gotDigest != wantDigest {
						t.Fatalf("schema %d seq %d:\n got %s\nwant %s", sv, seq, got, want)
					}
					if _, err := aios.DecodeEnvelope(got); err != nil {
						t.Fatalf("stored bytes do not decode: %v", err)
					}
				}
				if tc.md != nil && e.Metadata[aios.MetaDigest] != tc.md[aios.MetaDigest] {
					t.Fatal("prepare changed the caller's metadata")
				}
			}
		})
	}
}

// FuzzSealFastPath checks the fast path against the fallback for any
// metadata: the bytes stored must be the same either way.
func FuzzSealFastPath(f *testing.F) {
	f.Add("agent_id", "a", "trace_id", "0734187ea79f34a31fae19e9f3e9b740", "span_id", "7c7a28292ddc58be")
	f.Add("actor", `{"type":"system"}`, "digest", "ff", "\u2028", "<&>")
	f.Add("", "", "zz", "\x00\x7f\xff", "é", "\\")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		e := benchEvent()
		e.Metadata = map[string]string{k1: v1, k2: v2, k3: v3}
		p, err := prepare(e)
		if err != nil {
			return // metadata aios refuses (invalid UTF-8, ...)
		}
		c := e
		c.Metadata = map[string]string{}
		for k, v := range e.Metadata {
			if k != aios.MetaDigest {
				c.Metadata[k] = v
			}
		}
		slow := p
		slow.fallback = &c
		got, gd := p.seal(7, nil, nil)
		want, wd := slow.seal(7, nil, nil)
		if !bytes.Equal(got, want) || gd != wd {
			t.Fatalf("fast path differs:\n got %s\nwant %s", got, want)
		}
	})
}

package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/lifeos/life/aios"
)

// Deferred set ops must give the document, version and errors that
// applying every patch at once gives, whenever the document is read; a
// patch on another version is rejected (counted) rather than failing.
func TestDeferredSetsMatchEagerPatches(t *testing.T) {
	// Paths that nest, escape, index arrays or are malformed; values that
	// are objects, arrays, scalars, null (also as the whole document), or
	// not JSON at all.
	paths := []string{"/a", "/a/b", "/a/c", "/a/b/d", "/runs/last", "/runs/count", "/runs", "/l", "/l/0", "/l/-", "/n", "/n/x", "/e~1f", "", "x", "/a/"}
	values := []string{`{}`, `{"z":1,"y":[1,2]}`, `[]`, `[{"q":true}]`, `3`, `"<s>"`, `null`, `{"b":{"d":7}}`, `{ "sp" : 1 }`, `{`, `1 2`, `1.50`}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		got := NewSessionState(aios.StreamID{Session: "s", Branch: "main"})
		want := aios.NewState()
		conflicts := uint64(0)
		for step := range 40 {
			var ops []aios.PatchOp
			for range 1 + rng.IntN(3) {
				op := aios.PatchOp{Path: paths[rng.IntN(len(paths))]}
				switch k := rng.IntN(10); {
				case k < 7:
					op.Op, op.Value = aios.OpSet, json.RawMessage(values[rng.IntN(len(values))])
				case k < 8:
					op.Op, op.Object = aios.OpMerge, json.RawMessage(values[rng.IntN(len(values))])
				case k < 9:
					op.Op, op.Values = aios.OpAppend, []json.RawMessage{json.RawMessage(values[rng.IntN(len(values))])}
				default:
					op.Op, op.Reason = aios.OpTombstone, "gone"
				}
				ops = append(ops, op)
			}
			base := want.Version
			if rng.IntN(20) == 0 {
				base++ // a conflicting patch
			}
			p := &aios.StatePatchCommitted{NewVersion: base + 1, Patch: aios.StatePatch{BaseVersion: base, Ops: ops}}
			errGot := got.Apply(aios.EventEnvelope{Payload: p})
			errWant := want.Apply(p.Patch)
			if errors.Is(errWant, aios.ErrVersionConflict) {
				// The fold rejects it without failing: counted, no change.
				errWant = nil
				conflicts++
			}
			if (errGot == nil) != (errWant == nil) {
				t.Fatalf("seed %d step %d %+v: error %v, want %v", seed, step, ops, errGot, errWant)
			}
			if got.Version != want.Version || got.PatchConflicts != conflicts {
				t.Fatalf("seed %d step %d: version %d, %d conflicts, want %d, %d", seed, step, got.Version, got.PatchConflicts, want.Version, conflicts)
			}
			if rng.IntN(4) == 0 || step == 39 {
				wantDoc, _ := json.Marshal(want.Doc)
				if doc := got.Document(); !bytes.Equal(doc, wantDoc) {
					t.Fatalf("seed %d step %d: doc %s, want %s", seed, step, doc, wantDoc)
				}
			}
		}
	}
}

// A state with deferred sets encodes, clones and snapshots with them.
func TestDeferredSetsEncoded(t *testing.T) {
	st := NewSessionState(aios.StreamID{Session: "s", Branch: "main"})
	for v := range uint64(3) {
		p := &aios.StatePatchCommitted{NewVersion: v + 1, Patch: aios.StatePatch{BaseVersion: v, Ops: []aios.PatchOp{
			{Op: aios.OpSet, Path: "/runs/count", Value: json.RawMessage{'1' + byte(v)}},
		}}}
		if err := st.Apply(aios.EventEnvelope{Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := st.Encode()
	if err != nil || !bytes.Contains(raw, []byte(`"doc":{"runs":{"count":3}}`)) {
		t.Fatalf("%s %v", raw, err)
	}
	if c := st.Clone(); string(c.Doc) != `{"runs":{"count":3}}` || c.Version != 3 {
		t.Fatalf("clone doc %s version %d", c.Doc, c.Version)
	}
}

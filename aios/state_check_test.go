package aios

import (
	"encoding/json"
	"testing"
)

// TestStatePatchCheckAgreesWithMarshal: check, which Validate runs instead
// of encoding the patch, refuses exactly what MarshalJSON refuses.
func TestStatePatchCheckAgreesWithMarshal(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	for _, tc := range []struct {
		name string
		p    StatePatch
	}{
		{"empty", StatePatch{}},
		{"set", StatePatch{Ops: []PatchOp{{Op: OpSet, Path: "/a", Value: raw(`{"x":1}`)}}}},
		{"set no value", StatePatch{Ops: []PatchOp{{Op: OpSet, Path: "/a"}}}},
		{"set empty value", StatePatch{Ops: []PatchOp{{Op: OpSet, Path: "/a", Value: raw("")}}}},
		{"set bad json", StatePatch{Ops: []PatchOp{{Op: OpSet, Path: "/a", Value: raw(`{"x":`)}}}},
		{"merge bad json", StatePatch{Ops: []PatchOp{{Op: OpMerge, Path: "/a", Object: raw(`[1,`)}}}},
		{"append", StatePatch{Ops: []PatchOp{{Op: OpAppend, Path: "/l", Values: []json.RawMessage{raw("1"), nil}}}}},
		{"append empty element", StatePatch{Ops: []PatchOp{{Op: OpAppend, Path: "/l", Values: []json.RawMessage{raw("")}}}}},
		{"append bad element", StatePatch{Ops: []PatchOp{{Op: OpAppend, Path: "/l", Values: []json.RawMessage{raw("1"), raw("tru")}}}}},
		{"tombstone", StatePatch{Ops: []PatchOp{{Op: OpTombstone, Path: "/a", Reason: "gone"}}}},
		{"set_ref", StatePatch{Ops: []PatchOp{{Op: OpSetRef, Path: "/a", BlobRef: &BlobRef{BlobID: "h", ContentType: "text/plain"}}}}},
		{"set_ref bad meta", StatePatch{Ops: []PatchOp{{Op: OpSetRef, Path: "/a", BlobRef: &BlobRef{BlobID: "h", ContentType: "t", Meta: raw("{")}}}}},
		{"set_ref without ref", StatePatch{Ops: []PatchOp{{Op: OpSetRef, Path: "/a"}}}},
		{"unknown op", StatePatch{Ops: []PatchOp{{Op: "frobnicate", Path: "/a"}}}},
		{"provenance", StatePatch{Provenance: []ProvenanceRef{{Kind: "event", EventID: "e"}, {Kind: "blob", BlobID: "b"}}}},
		{"provenance without id", StatePatch{Provenance: []ProvenanceRef{{Kind: "blob"}}}},
		{"provenance kind", StatePatch{Provenance: []ProvenanceRef{{Kind: "file", EventID: "e"}}}},
	} {
		_, merr := json.Marshal(tc.p)
		cerr := tc.p.check()
		if (merr == nil) != (cerr == nil) {
			t.Errorf("%s: Marshal %v, check %v", tc.name, merr, cerr)
		}
	}
}

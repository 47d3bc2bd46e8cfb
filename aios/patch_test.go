package aios_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
)

func TestStatePatchApply(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name    string
		start   string
		ops     []aios.PatchOp
		want    string
		wantErr error
	}{
		{"set creates parents", `{}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/a/b", Value: raw(`1`)}}, `{"a":{"b":1}}`, nil},
		{"set replaces root", `{"x":1}`, []aios.PatchOp{{Op: aios.OpSet, Path: "", Value: raw(`{"y":2}`)}}, `{"y":2}`, nil},
		{"set array index", `{"l":[1,2,3]}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/l/1", Value: raw(`"two"`)}}, `{"l":[1,"two",3]}`, nil},
		{"set array end", `{"l":[1]}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/l/-", Value: raw(`2`)}}, `{"l":[1,2]}`, nil},
		{"escaped pointer", `{}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/a~1b/c~0d", Value: raw(`true`)}}, `{"a/b":{"c~d":true}}`, nil},
		{"big numbers stay exact", `{}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/n", Value: raw(`18446744073709551615`)}}, `{"n":18446744073709551615}`, nil},
		{"merge is RFC 7386", `{"agent":{"focus":"x","drop":1,"keep":{"a":1}}}`,
			[]aios.PatchOp{{Op: aios.OpMerge, Path: "/agent", Object: raw(`{"focus":"journal","drop":null,"keep":{"b":2}}`)}},
			`{"agent":{"focus":"journal","keep":{"a":1,"b":2}}}`, nil},
		{"merge into missing", `{}`, []aios.PatchOp{{Op: aios.OpMerge, Path: "/m", Object: raw(`{"a":1}`)}}, `{"m":{"a":1}}`, nil},
		{"append to missing", `{}`, []aios.PatchOp{{Op: aios.OpAppend, Path: "/files", Values: []json.RawMessage{raw(`"a"`), raw(`"b"`)}}}, `{"files":["a","b"]}`, nil},
		{"append to array", `{"files":["a"]}`, []aios.PatchOp{{Op: aios.OpAppend, Path: "/files", Values: []json.RawMessage{raw(`"b"`)}}}, `{"files":["a","b"]}`, nil},
		{"append to object fails", `{"files":{}}`, []aios.PatchOp{{Op: aios.OpAppend, Path: "/files", Values: []json.RawMessage{raw(`1`)}}}, ``, aios.ErrBadPath},
		{"tombstone keeps the fact", `{"memory":{"old":"v"}}`,
			[]aios.PatchOp{{Op: aios.OpTombstone, Path: "/memory/old", Reason: "expired", ReplacedBy: "/memory/new"}},
			`{"memory":{"old":{"$tombstone":{"reason":"expired","replaced_by":"/memory/new"}}}}`, nil},
		{"tombstone of missing path fails", `{}`, []aios.PatchOp{{Op: aios.OpTombstone, Path: "/nope", Reason: "r"}}, ``, aios.ErrBadPath},
		{"set_ref", `{}`, []aios.PatchOp{{Op: aios.OpSetRef, Path: "/p", BlobRef: &aios.BlobRef{BlobID: "h", ContentType: "application/json"}}},
			`{"p":{"$ref":{"blob_id":"h","content_type":"application/json"}}}`, nil},
		{"all or nothing", `{"a":1}`, []aios.PatchOp{
			{Op: aios.OpSet, Path: "/b", Value: raw(`2`)},
			{Op: aios.OpSet, Path: "/a/x/y", Value: raw(`3`)}, // /a is a number
		}, ``, aios.ErrBadPath},
		{"bad pointer", `{}`, []aios.PatchOp{{Op: aios.OpSet, Path: "a", Value: raw(`1`)}}, ``, aios.ErrBadPath},
		{"bad escape", `{}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/a~2", Value: raw(`1`)}}, ``, aios.ErrBadPath},
		{"index out of range", `{"l":[1]}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/l/5", Value: raw(`1`)}}, ``, aios.ErrBadPath},
		{"leading zero index", `{"l":[1,2]}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/l/01", Value: raw(`1`)}}, ``, aios.ErrBadPath},
		{"bad value JSON", `{}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/a", Value: raw(`{`)}}, ``, aios.ErrMalformed},
		{"signed index", `{"l":[1,2]}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/l/+1", Value: raw(`9`)}}, ``, aios.ErrBadPath},
		{"signed zero index", `{"l":[1,2]}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/l/+0", Value: raw(`9`)}}, ``, aios.ErrBadPath},
		{"huge index", `{"l":[1]}`, []aios.PatchOp{{Op: aios.OpSet, Path: "/l/99999999999999999999", Value: raw(`9`)}}, ``, aios.ErrBadPath},
		{"append through a scalar", `{"a":1}`, []aios.PatchOp{{Op: aios.OpAppend, Path: "/a/b", Values: []json.RawMessage{raw(`1`)}}}, ``, aios.ErrBadPath},
		{"merge through an array end", `{"l":[]}`, []aios.PatchOp{{Op: aios.OpMerge, Path: "/l/-/x", Object: raw(`{}`)}}, ``, aios.ErrBadPath},
		// A document deeper than JSON decoders read would apply once and
		// never load again.
		{"path too deep", `{}`, []aios.PatchOp{{Op: aios.OpSet, Path: strings.Repeat("/a", 10001), Value: raw(`1`)}}, ``, aios.ErrBadPath},
		{"path and value too deep", `{}`, []aios.PatchOp{{Op: aios.OpSet, Path: strings.Repeat("/a", 5000),
			Value: raw(strings.Repeat("[", 5001) + strings.Repeat("]", 5001))}}, ``, aios.ErrBadPath},
		{"merge too deep", `{}`, []aios.PatchOp{{Op: aios.OpMerge, Path: strings.Repeat("/a", 9999), Object: raw(`{"b":{}}`)}}, ``, aios.ErrBadPath},
		{"append too deep", `{}`, []aios.PatchOp{{Op: aios.OpAppend, Path: strings.Repeat("/a", 9999), Values: []json.RawMessage{raw(`1`), raw(`[]`)}}}, ``, aios.ErrBadPath},
		{"tombstone too deep", `{}`, []aios.PatchOp{
			{Op: aios.OpSet, Path: strings.Repeat("/a", 9999), Value: raw(`1`)},
			{Op: aios.OpTombstone, Path: strings.Repeat("/a", 9999), Reason: "r"},
		}, ``, aios.ErrBadPath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := aios.NewState()
			var doc any
			if err := json.Unmarshal([]byte(tc.start), &doc); err != nil {
				t.Fatal(err)
			}
			s.Doc = doc
			before, _ := json.Marshal(s)
			err := s.Apply(aios.StatePatch{BaseVersion: 0, Ops: tc.ops})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				after, _ := json.Marshal(s)
				if string(after) != string(before) || s.Version != 0 {
					t.Errorf("failed patch changed the state: %s -> %s (v%d)", before, after, s.Version)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(s)
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if s.Version != 1 {
				t.Errorf("version %d, want 1", s.Version)
			}
		})
	}
}

func TestStatePatchVersionConflict(t *testing.T) {
	s := aios.NewState()
	if err := s.Apply(aios.StatePatch{BaseVersion: 3}); !errors.Is(err, aios.ErrVersionConflict) {
		t.Fatalf("err = %v, want ErrVersionConflict", err)
	}
	// The last version has no successor: wrapping to 0 would let every
	// patch made against version 0 apply again.
	s.Version = math.MaxUint64
	err := s.Apply(aios.StatePatch{BaseVersion: math.MaxUint64, Ops: []aios.PatchOp{{Op: aios.OpSet, Path: "/a", Value: json.RawMessage(`1`)}}})
	if !errors.Is(err, aios.ErrVersionConflict) || s.Version != math.MaxUint64 {
		t.Fatalf("apply at the last version: err = %v, version %d", err, s.Version)
	}
}

// The deepest document the depth check allows still decodes.
func TestStatePatchDepthLimitIsExact(t *testing.T) {
	s := aios.NewState()
	err := s.Apply(aios.StatePatch{Ops: []aios.PatchOp{{Op: aios.OpSet, Path: strings.Repeat("/a", 9000),
		Value: json.RawMessage(strings.Repeat("[", 1000) + strings.Repeat("]", 1000))}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("the state does not decode again: %v", err)
	}
}

// The fixture's StatePatchCommitted applies cleanly to its base version.
func TestFixturePatchApplies(t *testing.T) {
	envs, err := aios.DecodeEnvelopes(readFixture(t, "all-kinds.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spc *aios.StatePatchCommitted
	for _, e := range envs {
		if p, ok := e.Payload.(*aios.StatePatchCommitted); ok {
			spc = p
		}
	}
	if spc == nil {
		t.Fatal("no StatePatchCommitted in all-kinds.json")
	}
	s := &aios.State{Version: spc.Patch.BaseVersion, Doc: map[string]any{"memory": map[string]any{"projections": map[string]any{"old": 1}}}}
	if err := s.Apply(spc.Patch); err != nil {
		t.Fatal(err)
	}
	if s.Version != spc.NewVersion {
		t.Errorf("version %d, want %d", s.Version, spc.NewVersion)
	}
	got, _ := json.Marshal(s)
	want := `{"agent":{"confidence":0.6,"focus":"journal"},"memory":{"projections":{"current":{"$ref":{"blob_id":"be3066d0619474b22cf40518fada7dc70c41129dbf2a0647bff1c37acb144584","codec":"zstd","content_type":"application/json","meta":{"entries":12}}},"old":{"$tombstone":{"reason":"expired","replaced_by":"/memory/projections/current"}}}},"session":{"files":["README.md","Cargo.toml"]}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestPatchOpWireForms(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"op":"set","path":"/a","value":null}`, ""},
		{`{"op":"append","path":"/a","values":[]}`, ""},
		{`{"op":"tombstone","path":"/a","reason":"r"}`, ""},
		{`{"op":"set","path":"/a"}`, "missing"},
		{`{"op":"set_ref","path":"/a","blob_ref":{"blob_id":"x"}}`, "missing"},
		{`{"path":"/a"}`, "unknown op"},
	}
	for _, tc := range tests {
		var op aios.PatchOp
		err := json.Unmarshal([]byte(tc.in), &op)
		if tc.want != "" {
			if err == nil || !errors.Is(err, aios.ErrMalformed) {
				t.Errorf("%s: err = %v, want a malformed error", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		out, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != tc.in {
			t.Errorf("round trip %s -> %s", tc.in, out)
		}
	}
}

// Applying a patch never changes an earlier version of the document, even
// in the parts the patch rewrites (documents share what did not change).
func TestApplyLeavesOlderVersionsIntact(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{"a":{"b":[1,2],"keep":{"x":1}},"l":[1]}`), &doc); err != nil {
		t.Fatal(err)
	}
	// Give the array spare capacity so an in-place append would be visible.
	doc.(map[string]any)["l"] = append(make([]any, 0, 8), 1.0)
	before, _ := json.Marshal(doc)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	newDoc, err := aios.ApplyOps(doc, []aios.PatchOp{
		{Op: aios.OpSet, Path: "/a/b/0", Value: raw(`"x"`)},
		{Op: aios.OpMerge, Path: "/a", Object: raw(`{"keep":{"y":2},"c":3}`)},
		{Op: aios.OpAppend, Path: "/l", Values: []json.RawMessage{raw(`2`)}},
		{Op: aios.OpSet, Path: "/l/-", Value: raw(`3`)},
		{Op: aios.OpTombstone, Path: "/a/c", Reason: "gone"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(doc); string(after) != string(before) {
		t.Fatalf("old version changed:\n%s\n%s", before, after)
	}
	got, _ := json.Marshal(newDoc)
	want := `{"a":{"b":["x",2],"c":{"$tombstone":{"reason":"gone"}},"keep":{"x":1,"y":2}},"l":[1,2,3]}`
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

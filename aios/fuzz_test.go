package aios_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/lifeos/life/aios"
)

// FuzzDecodeEnvelope: decoding never panics, every failure is ErrMalformed,
// and whatever decodes re-encodes to a fixed point (encode(decode(encode(x)))
// == encode(x)). Seeds: every fixture event (f.Add below) and the corpus in
// testdata/fuzz/FuzzDecodeEnvelope.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, name := range fixtures {
		var items []json.RawMessage
		if err := json.Unmarshal(readFixture(f, name), &items); err != nil {
			f.Fatal(err)
		}
		for _, it := range items {
			f.Add([]byte(it))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := aios.DecodeEnvelope(raw)
		if err != nil {
			if !errors.Is(err, aios.ErrMalformed) {
				t.Fatalf("error does not match ErrMalformed: %v", err)
			}
			return
		}
		first, err := aios.EncodeEnvelope(env)
		if err != nil {
			// what decodes is written back; the encoder refuses only what
			// would not decode
			t.Fatalf("decoded event does not encode: %v", err)
		}
		if !utf8.Valid(first) {
			t.Fatalf("encoded event is not UTF-8: %q", first)
		}
		again, err := aios.DecodeEnvelope(first)
		if err != nil {
			t.Fatalf("re-decode of our own output failed: %v\n%s", err, first)
		}
		second, err := aios.EncodeEnvelope(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("not a fixed point:\n%s\n%s", first, second)
		}
	})
}

// FuzzStatePatch: decoding and applying arbitrary patches never panics and a
// failed apply leaves the state untouched.
func FuzzStatePatch(f *testing.F) {
	f.Add([]byte(`{"base_version":0,"ops":[{"op":"set","path":"/a/b","value":1}],"provenance":[]}`), []byte(`{}`))
	f.Add([]byte(`{"base_version":0,"ops":[{"op":"merge","path":"","object":{"a":null}}]}`), []byte(`{"a":1}`))
	f.Add([]byte(`{"base_version":0,"ops":[{"op":"append","path":"/l/-","values":[1]}]}`), []byte(`{"l":[[]]}`))
	f.Fuzz(func(t *testing.T, patchJSON, docJSON []byte) {
		var p aios.StatePatch
		if err := json.Unmarshal(patchJSON, &p); err != nil {
			return
		}
		var doc any
		if err := json.Unmarshal(docJSON, &doc); err != nil {
			return
		}
		s := &aios.State{Doc: doc}
		before, _ := json.Marshal(s)
		err := s.Apply(p)
		// The old document is never modified, whether the patch applied or not.
		if old, _ := json.Marshal(doc); !bytes.Equal(before, old) {
			t.Fatalf("apply (err %v) modified the old document %s -> %s", err, before, old)
		}
		if err != nil {
			if after, _ := json.Marshal(s); !bytes.Equal(before, after) {
				t.Fatalf("failed apply changed state %s -> %s", before, after)
			}
		}
	})
}

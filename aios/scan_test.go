package aios

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

func scanValid(b []byte) bool {
	end, err := skipValue(b, skipSpace(b, 0), 0)
	return err == nil && skipSpace(b, end) == len(b)
}

func TestScanAgreesWithEncodingJSON(t *testing.T) {
	tests := []string{
		`{}`, ` { "a" : 1 , "b":[1,2,{"c":null}] } `, `[]`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{'a':1}`,
		`"\u00e9\n\"x"`, `"\u00g0"`, "\"a\x01b\"", `"\q"`, `-0.5e+10`, `01`, `1.`, `.5`, `-`, `1e`, `tru`, `true`,
		`null`, `nul`, `{"a":1}{"b":2}`, `{"a":1} x`, `"\xff"`, `[[[[]]]]`, `{"a":"b"`, ``, ` `,
	}
	for _, in := range tests {
		if got, want := scanValid([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("%q: scanner says valid=%v, encoding/json %v", in, got, want)
		}
	}
	deep := bytes.Repeat([]byte("["), maxDepth+1)
	if scanValid(append(deep, bytes.Repeat([]byte("]"), maxDepth+1)...)) {
		t.Error("nesting past the limit accepted")
	}
}

// FuzzScanMatchesEncodingJSON: the scanner accepts exactly what
// encoding/json accepts, and splits objects into the same members.
func FuzzScanMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":{"c":[true,false,null]},"a":"last"}`, `{"k\u00e9y":"v"}`, `[1,2]`, `"s"`, `{"a":1e5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		valid := json.Valid(b)
		if got := scanValid(b); got != valid {
			t.Fatalf("%q: scanner valid=%v, encoding/json %v", b, got, valid)
		}
		ms, err := objectMembers(b, []member{})
		var m map[string]json.RawMessage
		jerr := json.Unmarshal(b, &m)
		isObj := jerr == nil && m != nil
		if (err == nil) != isObj {
			t.Fatalf("%q: objectMembers err=%v, encoding/json object=%v (%v)", b, err, isObj, jerr)
		}
		if err != nil || !utf8.Valid(b) {
			return // encoding/json replaces invalid UTF-8 in keys and strings
		}
		last := map[string][]byte{}
		for _, kv := range ms {
			last[string(kv.key)] = kv.val
		}
		if len(last) != len(m) {
			t.Fatalf("%q: %d distinct keys, encoding/json %d", b, len(last), len(m))
		}
		for k, v := range m {
			ours, ok := last[k]
			if !ok {
				t.Fatalf("%q: key %q missing", b, k)
			}
			var c1, c2 bytes.Buffer
			json.Compact(&c1, ours)
			json.Compact(&c2, v)
			if !bytes.Equal(c1.Bytes(), c2.Bytes()) {
				t.Fatalf("%q: key %q value %s, encoding/json %s", b, k, ours, v)
			}
		}
	})
}

// FuzzAppendString: the envelope's hand-written string encoder writes what
// encoding/json writes (HTML escaping off).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"plain", "a\"b\\c", "\x00\x1f\b\f\n\r\t", "<&>", "\xff\xfe", "\u2028\u2029", "é中🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := marshalNoEscape(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// FuzzFastPathsAgree: on any document the validating scanner accepts, the
// splitter for validated values finds the same members, and the envelope's
// reflection-free decoder, when it applies, decodes what the general one
// does.
func FuzzFastPathsAgree(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":"x","c":{"d":[1,{"e":"\"}"}]},"f":true}`,
		` { "k\u00e9" : "v" , "x" : [ ] } `,
		`{"event_id":"E","session_id":"S","branch_id":"main","seq":3,"timestamp":1,"payload":{"type":"PhaseEntered","phase":"deliberate"},"metadata":{"digest":"ab","agent_id":"a\\b"},"schema_version":1}`,
		`{"event_id":"E","session_id":"S","branch_id":"main","timestamp":1,"payload":{"type":"UserMessage","content":"hi"},"schema_version":300}`,
		`{"event_id":null,"session_id":"S","branch_id":"main","timestamp":1,"payload":{}}`,
		`{"a":"\\\\","b":"\\\"","c":-1.5e3,"d":null}`,
		typicalEnvelope,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		slow, err := objectMembers(raw, []member{}) // a nil buffer only validates
		if err != nil {
			return
		}
		if fast, ok := membersOfValid(raw, nil); ok && !equalMembers(fast, slow) {
			t.Fatalf("members differ:\nfast %q\nslow %q", fast, slow)
		}
		var fast envelopeFields
		if !fast.decodeFast(slow, nil) {
			return
		}
		var general envelopeFields
		if _, err := decodeMembers(slow, &general, "envelope", ""); err != nil {
			t.Fatalf("fast path decoded what the general decoder rejects: %v", err)
		}
		if !reflect.DeepEqual(fast, general) {
			t.Fatalf("decoders differ:\nfast    %+v\ngeneral %+v", fast, general)
		}
	})
}

func equalMembers(a, b []member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].key, b[i].key) || !bytes.Equal(a[i].val, b[i].val) {
			return false
		}
	}
	return true
}

const typicalEnvelope = `{"event_id":"01M84DDAEC9D8GBZ0GK9MRNK7J","session_id":"S","branch_id":"main","run_id":"R","seq":42,"timestamp":1795400000000000,"payload":{"type":"PhaseEntered","phase":"deliberate"},"metadata":{"digest":"4f1b","span_id":"7c7a","trace_id":"0734"},"schema_version":1}`

// TestFastPathTakesTypicalEnvelope keeps FuzzFastPathsAgree meaningful: the
// journal's usual envelope goes the reflection-free way.
func TestFastPathTakesTypicalEnvelope(t *testing.T) {
	ms, err := objectMembers([]byte(typicalEnvelope), []member{})
	if err != nil {
		t.Fatal(err)
	}
	var fast, general envelopeFields
	if !fast.decodeFast(ms, nil) {
		t.Fatal("typical envelope not decoded by the fast path")
	}
	if _, err := decodeMembers(ms, &general, "envelope", ""); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fast, general) {
		t.Fatalf("decoders differ:\nfast    %+v\ngeneral %+v", fast, general)
	}
}

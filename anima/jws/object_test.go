package jws

import (
	"bytes"
	"encoding/json"
	"testing"
)

// refUnique is the slow reference: json.Decoder tokens at the top level.
func refUnique(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		k := tok.(string)
		if seen[k] {
			return false
		}
		seen[k] = true
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return false
		}
	}
	if _, err := dec.Token(); err != nil {
		return false
	}
	_, err = dec.Token()
	return err != nil
}

func TestCheckObject(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{`{}`, true},
		{` {"a":1} `, true},
		{`{"a":{"a":1},"b":[{"a":2}]}`, true},
		{`{"a":"}\"{","b":1}`, true},
		{`{"a":1,"a":2}`, false},
		{`{"a":1,"\u0061":2}`, false},
		{`{"a":{"x":1},"b":2,"a":3}`, false},
		{`[]`, false},
		{`{"a":1}{}`, false},
		{`{"a":1`, false},
		{`"str"`, false},
		{``, false},
	} {
		err := CheckObject([]byte(tt.in))
		if tt.ok != (err == nil) {
			t.Errorf("%s: %v", tt.in, err)
		}
	}
}

func FuzzCheckObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":[1,{"a":2}]}`, `{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, `{"a":"\\\""}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			_ = CheckObject(b)
			return
		}
		// On valid JSON, CheckObject agrees with the reference exactly.
		if got, want := CheckObject(b) == nil, refUnique(b); got != want {
			t.Fatalf("CheckObject=%v reference=%v for %q", got, want, b)
		}
	})
}

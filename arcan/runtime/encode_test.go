package runtime

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
)

// The loop encodes with structs where it used maps; the bytes must not change.
func TestEncodingsMatchMaps(t *testing.T) {
	runs := []RunState{
		{ID: "01J", Iterations: 2, ToolCalls: 1, Usage: aios.TokenUsage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
		{ID: "<a&b>\u2028", Iterations: 0},
	}
	for _, run := range runs {
		for _, status := range []string{StatusCompleted, "<&>"} {
			want, _ := json.Marshal(map[string]any{"id": run.ID, "status": status, "iterations": run.Iterations, "tool_calls": run.ToolCalls, "usage": run.Usage})
			if got := runSummary(&run, status); !bytes.Equal(got, want) {
				t.Errorf("runSummary = %s, want %s", got, want)
			}
		}
	}
	for _, out := range []string{`{"ok":true}`, `{ "a" : "<b>&\u2028" , "n": [1, 2] }`, `"text"`, `null`, `12`} {
		for _, isErr := range []bool{false, true} {
			key, st := "output", `"success"`
			if isErr {
				key, st = "error", `"failure"`
			}
			want, _ := json.Marshal(map[string]json.RawMessage{key: compact(json.RawMessage(out)), "status": json.RawMessage(st)})
			if got := toolResult(json.RawMessage(out), isErr); !bytes.Equal(got, want) {
				t.Errorf("toolResult(%s, %t) = %s, want %s", out, isErr, got, want)
			}
		}
	}
}

func TestCompact(t *testing.T) {
	for _, in := range []string{"", `{}`, `{"a":1}`, `{ "a" : 1 }`, "[1,\n2]", `{"a":"x y"}`, `{"a":`, `not json`, `"\t"`} {
		want := json.RawMessage("{}")
		if in != "" {
			var b bytes.Buffer
			if json.Compact(&b, []byte(in)) == nil {
				want = b.Bytes()
			} else {
				want = json.RawMessage(in)
			}
		}
		src := []byte(in)
		got := compact(src)
		if !bytes.Equal(got, want) {
			t.Errorf("compact(%q) = %q, want %q", in, got, want)
		}
		if json.Valid(src) && &got[0] == &src[0] {
			t.Errorf("compact(%q) aliases its input", in)
		}
	}
}

// gatingFieldsEqual must look at every field of aios.Gating: a field it
// skipped would make two different gatings look the same.
func TestGatingFieldsEqualCoversEveryField(t *testing.T) {
	typ := reflect.TypeFor[aios.Gating]()
	for i := range typ.NumField() {
		var g aios.Gating
		f := reflect.ValueOf(&g).Elem().Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.String:
			f.SetString("x")
		case reflect.Uint32, reflect.Uint64, reflect.Uint:
			f.SetUint(1)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"x"}).Convert(f.Type()))
		default:
			t.Fatalf("field %s has kind %s: teach this test and gatingFieldsEqual about it", typ.Field(i).Name, f.Kind())
		}
		if gatingFieldsEqual(aios.Gating{}, g) || sameGating(aios.Gating{}, g) {
			t.Errorf("gatings differing in %s compare equal", typ.Field(i).Name)
		}
	}
	a := aios.OpenGating()
	b := aios.OpenGating()
	b.Reasons = aios.Strings{} // nil and empty encode alike
	if !sameGating(a, b) || !gatingFieldsEqual(a, b) {
		t.Error("nil and empty lists should compare equal")
	}
}

// BenchmarkRunStatePatch: building and folding the one state patch a run
// commits (its set ops are checked and kept, decoded only when the
// document is read).
func BenchmarkRunStatePatch(b *testing.B) {
	st := NewSessionState(aios.StreamID{Session: "s", Branch: "main"})
	run := &RunState{ID: "01JABCDEFGHJKMNPQRSTVWXYZ0", Iterations: 2, ToolCalls: 1, Usage: aios.TokenUsage{PromptTokens: 40, CompletionTokens: 20, TotalTokens: 60}}
	b.ReportAllocs()
	for b.Loop() {
		st.Runs++
		p := &aios.StatePatchCommitted{NewVersion: st.Version + 1, Patch: aios.StatePatch{
			BaseVersion: st.Version,
			Ops: []aios.PatchOp{
				{Op: aios.OpSet, Path: "/runs/last", Value: runSummary(run, StatusCompleted)},
				{Op: aios.OpSet, Path: "/runs/count", Value: strconv.AppendUint(nil, uint64(st.Runs), 10)},
			},
		}}
		if err := st.Apply(aios.EventEnvelope{Payload: p}); err != nil {
			b.Fatal(err)
		}
	}
}

// resultText's shortcut for the shape toolResult writes must read what
// decoding reads.
func TestResultTextMatchesDecoding(t *testing.T) {
	decoded := func(raw json.RawMessage) string {
		var r struct {
			Output json.RawMessage `json:"output"`
			Error  json.RawMessage `json:"error"`
		}
		if json.Unmarshal(raw, &r) == nil {
			for _, v := range []json.RawMessage{r.Output, r.Error} {
				if len(v) == 0 {
					continue
				}
				var str string
				if json.Unmarshal(v, &str) == nil {
					return str
				}
				return string(compact(v))
			}
		}
		return string(compact(raw))
	}
	outs := []string{`{"ok":true}`, `{ "a" : 1 }`, `"text"`, `"a\"b"`, `"\u00e9\n"`, "\"\xff\"", `"é"`, `""`, `null`, `12`, `[1, 2]`, `true`, `-1.5e3`, `"<&>\u2028"`,
		`1,"x":2`, `"a","status":"x"`, ` 1`, `1 `, `{`, ``, `"`, `{"output":1}`}
	for _, out := range outs {
		for _, wrap := range []string{`{"output":%s,"status":"success"}`, `{"error":%s,"status":"failure"}`, `{"output":%s,"status":"failure"}`, `{"OUTPUT":%s,"status":"success"}`, `{"error":%s}`} {
			raw := json.RawMessage(strings.Replace(wrap, "%s", out, 1))
			if got, want := resultText(raw), decoded(raw); got != want {
				t.Errorf("resultText(%s) = %q, want %q", raw, got, want)
			}
		}
	}
}

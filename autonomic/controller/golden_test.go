package controller

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeos/life/aios"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenOut is what a golden file holds: every change journaled, and the
// final gating and view.
type goldenOut struct {
	Transitions []json.RawMessage `json:"transitions"`
	Gating      aios.Gating       `json:"gating"`
	View        View              `json:"view"`
}

func runStream(t testing.TB, c *Controller, id aios.StreamID, events []aios.EventEnvelope) goldenOut {
	t.Helper()
	h := NewHub(c)
	out := goldenOut{Transitions: []json.RawMessage{}}
	for i := range events {
		for _, e := range h.Apply(&events[i]) {
			b, err := aios.EncodeEnvelope(e)
			if err != nil {
				t.Fatal(err)
			}
			out.Transitions = append(out.Transitions, b)
		}
	}
	out.Gating, _ = h.Decide(t.Context(), id)
	out.View = h.View(id)
	return out
}

func TestGolden(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if sc.cfg != nil {
				sc.cfg(&cfg)
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			inPath := filepath.Join("testdata", "golden", sc.name+".events.json")
			outPath := filepath.Join("testdata", "golden", sc.name+".gating.json")
			if *update {
				evs := build(sc.name, sc.steps)
				raw := make([]json.RawMessage, len(evs))
				for i, e := range evs {
					if raw[i], err = aios.EncodeEnvelope(e); err != nil {
						t.Fatal(err)
					}
				}
				writeJSON(t, inPath, raw)
			}
			in, err := os.ReadFile(inPath)
			if err != nil {
				t.Fatal(err)
			}
			events, err := aios.DecodeEnvelopes(in)
			if err != nil {
				t.Fatal(err)
			}
			got := runStream(t, c, aios.StreamID{Session: sc.name, Branch: "main"}, events)
			compareGolden(t, outPath, got)
		})
	}
}

// TestGoldenConformance folds the reference system's own streams.
func TestGoldenConformance(t *testing.T) {
	files, _ := filepath.Glob("../../aios/testdata/conformance/*.json")
	if len(files) == 0 {
		t.Fatal("no conformance fixtures in aios/testdata/conformance")
	}
	c, _ := New(DefaultConfig())
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			events, err := aios.DecodeEnvelopes(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) == 0 {
				t.Fatal("empty fixture")
			}
			id := aios.StreamID{Session: events[0].SessionID, Branch: events[0].BranchID}
			var main []aios.EventEnvelope
			for _, e := range events {
				if e.SessionID == id.Session && e.BranchID == id.Branch {
					main = append(main, e)
				}
			}
			got := runStream(t, c, id, main)
			compareGolden(t, filepath.Join("testdata", "golden", "conformance-"+filepath.Base(f)), got)
		})
	}
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func compareGolden(t *testing.T, path string, got goldenOut) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from the golden file; run go test -run %s -update and review the diff.\ngot:\n%s", path, t.Name(), b)
	}
}

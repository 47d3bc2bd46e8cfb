package controller

import (
	"bytes"
	"testing"

	"github.com/lifeos/life/aios"
)

func FuzzResume(f *testing.F) {
	c, _ := New(DefaultConfig())
	st := c.NewStream(aios.StreamID{Session: "s", Branch: "main"})
	evs := build("s", scenarios()[2].steps)
	for i := range evs {
		c.Apply(st, &evs[i])
		if i%10 == 0 {
			b, _ := c.Snapshot(st)
			f.Add(b)
		}
	}
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":2,"config":"","stream":{"state":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := c.Resume(b)
		if err != nil {
			return
		}
		// A snapshot that resumes must fold and snapshot again.
		e := aios.EventEnvelope{EventID: "x", SessionID: "s", BranchID: "main", Seq: st.State.Seq + 1, Timestamp: st.State.Now + 1,
			Payload: &aios.CostIncurred{AmountMicroCredits: 5, Category: "tool"}}
		c.Apply(st, &e)
		if _, err := c.Snapshot(st); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(`{"limits":{"spend_cap_credits":3,"dwell":"1m"}}`))
	f.Add([]byte(`{"projection":{"prices":{"m":{"input_per_mtok":1,"output_per_mtok":2,"context_window":10}}}}`))
	f.Add([]byte(`{"rules":[{"name":"x","signal":"error_rate","ladder":{"direction":"rising","levels":[{"name":"a","enter":0.5,"exit":0.2}],"min_dwell":"1s"},"levels":[{"max_tokens":5}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := LoadConfig(bytes.NewReader(b))
		if err != nil {
			return
		}
		c, err := New(cfg)
		if err != nil {
			return
		}
		st := c.NewStream(aios.StreamID{Session: "s", Branch: "main"})
		e := aios.EventEnvelope{EventID: "x", SessionID: "s", BranchID: "main", Seq: 1, Timestamp: 1,
			Payload: &aios.Message{Role: "assistant", Model: "m", TokenUsage: &aios.TokenUsage{PromptTokens: 5}}}
		c.Apply(st, &e)
	})
}

// FuzzApply folds any stream of envelopes that decodes: no panic, and a
// snapshot of the result resumes to the same bytes.
func FuzzApply(f *testing.F) {
	for _, sc := range scenarios() {
		if len(sc.steps) == 0 {
			continue
		}
		evs := build(sc.name, sc.steps)
		raw := []byte("[")
		for i, e := range evs[:min(len(evs), 12)] {
			b, _ := aios.EncodeEnvelope(e)
			if i > 0 {
				raw = append(raw, ',')
			}
			raw = append(raw, b...)
		}
		f.Add(append(raw, ']'))
	}
	c, _ := New(DefaultConfig())
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := aios.DecodeEnvelopes(b)
		if err != nil {
			return
		}
		st := c.NewStream(aios.StreamID{Session: "f", Branch: "main"})
		for i := range evs {
			c.Apply(st, &evs[i])
		}
		snap, err := c.Snapshot(st)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Resume(snap)
		if err != nil {
			t.Fatalf("own snapshot does not resume: %v", err)
		}
		again, _ := c.Snapshot(back)
		if !bytes.Equal(snap, again) {
			t.Fatalf("snapshot round trip differs:\n%s\n%s", snap, again)
		}
	})
}

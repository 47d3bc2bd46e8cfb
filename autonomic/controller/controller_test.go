package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/rules"
)

// TestNoisyContextPressure drives the context pressure through real events
// as a seeded random walk around the 0.85 zone and counts the gate changes
// journaled, with and without hysteresis.
func TestNoisyContextPressure(t *testing.T) {
	count := func(cfg Config, seed uint64) int {
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(seed, 99))
		v := 0.85
		var steps []step
		for i := range 3000 {
			v += (0.85-v)*0.1 + (r.Float64()-0.5)*0.04
			in := uint32(v * 128000)
			steps = append(steps, step{time.Duration(i) * time.Second, "", &aios.Message{Role: "assistant", Model: "mock", TokenUsage: tok(in, 0)}})
		}
		n := 0
		st := c.NewStream(aios.StreamID{Session: "n", Branch: "main"})
		evs := build("n", steps)
		for i := range evs {
			for _, p := range c.Apply(st, &evs[i]) {
				if _, ok := p.(*aios.GatesUpdated); ok {
					n++
				}
			}
		}
		return n
	}
	for seed := uint64(1); seed <= 3; seed++ {
		with := count(DefaultConfig(), seed)
		plain := DefaultConfig()
		plain.Rules = rules.Default(plain.Limits).WithoutHysteresis()
		without := count(plain, seed)
		t.Logf("seed %d: %d gate changes without hysteresis, %d with", seed, without, with)
		if without < 100 || with*8 > without {
			t.Errorf("seed %d: without %d, with %d: hysteresis does not damp the flapping", seed, without, with)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	good := `{"projection":{"prices":{"m":{"input_per_mtok":1,"output_per_mtok":2}},"default_context_window":1000,
	 "token_cost_source":"usage","error_window":10,"spend_window":"5m","burn_window":"1h","min_burn_span":"1m","bucket":"10s"},
	 "limits":{"conserving_runway_hours":48,"hustle_runway_hours":8,"spend_cap_credits":2,"expensive_tools":["x"],"dwell":"1m"}}`
	cfg, err := LoadConfig(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rs := c.Rules(); rs[0].Ladder.Levels[0].Enter != 48 || len(cfg.Projection.Prices) != 1 {
		t.Errorf("limits not applied: %+v", rs[0].Ladder)
	}
	// Only what is given replaces the defaults.
	cfg, err = LoadConfig(strings.NewReader(`{"limits":{"spend_cap_credits":3}}`))
	if err != nil || cfg.Limits.SpendCapCredits != 3 || cfg.Limits.HustleRunwayHours != 4 || len(cfg.Projection.Prices) == 0 {
		t.Fatalf("partial config: %+v %v", cfg.Limits, err)
	}
	for _, bad := range []string{``, `{`, `[]`, `{"nope":1}`, `{"limits":{"dwell":"later"}}`, `{} {}`,
		`{"projection":{"error_window":"ten"}}`} {
		if _, err := LoadConfig(strings.NewReader(bad)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
	badCfgs := []func(*Config){
		func(c *Config) { c.Projection.ErrorWindow = 0 },
		func(c *Config) { c.Limits.HustleRunwayHours = 100 }, // above conserving
		func(c *Config) { c.Rules = rules.Set{{Name: "x", Signal: "mood"}} },
	}
	for i, mut := range badCfgs {
		cfg := DefaultConfig()
		mut(&cfg)
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("bad config %d: err = %v", i, err)
		}
	}
	// Bad files get an error naming the key at fault.
	for _, tt := range []struct{ in, want string }{
		{`{"limits":{"hustle_runway_hours":48}}`, "conserving_runway_hours 24: want a number above hustle_runway_hours 48"},
		{`{"limits":{"hustle_runway_hours":0}}`, "hustle_runway_hours 0: want a number > 0"},
		{`{"limits":{"spend_cap_credits":-1}}`, "spend_cap_credits -1"},
		{`{"limits":{"expensive_tools":["web_fetch",""]}}`, "expensive_tools: empty tool name"},
		{`{"limits":{"dwell":"-1s"}}`, "dwell -1s"},
		{`{"projection":{"error_window":3}}`, `rule "error_rate": min_outcomes 5 is over error_window 3`},
		{`{"projection":{"bucket":"100ns"}}`, "bucket must be at least 1µs"},
		{`{"rules":[{"name":"x","signal":"error_rate","ladder":{"direction":"rising","levels":[{"name":"a","enter":0.5,"exit":0.2}],"min_dwel":"1s"},"levels":[{}]}]}`,
			`unknown field "min_dwel"`},
	} {
		cfg, err := LoadConfig(strings.NewReader(tt.in))
		if err == nil {
			_, err = New(cfg)
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig with %q", tt.in, err, tt.want)
		}
	}
}

func TestResumeErrors(t *testing.T) {
	c, _ := New(DefaultConfig())
	st := c.NewStream(aios.StreamID{Session: "s", Branch: "main"})
	good, _ := c.Snapshot(st)
	other := DefaultConfig()
	other.Limits.SpendCapCredits = 9
	c2, _ := New(other)
	if _, err := c2.Resume(good); !errors.Is(err, ErrSnapshotStale) {
		t.Errorf("other config: err = %v", err)
	}
	cases := []string{
		``, `null`, `{}`, `{"version":3}`, string(good) + `x`,
		// Taken by the fold before the clock could go back.
		strings.Replace(string(good), `"version":2`, `"version":1`, 1),
		strings.Replace(string(good), `"latches":[`, `"latches":[{"level":0,"since":0},`, 1),
		strings.Replace(string(good), `"latches":[{"level":0`, `"latches":[{"level":9`, 1),
		strings.Replace(string(good), `"mode":"sovereign"`, `"mode":"rich"`, 1),
		strings.Replace(string(good), `"version":2`, `"version":2,"extra":true`, 1),
	}
	for i, in := range cases {
		if _, err := c.Resume([]byte(in)); !errors.Is(err, ErrSnapshot) {
			t.Errorf("case %d: err = %v", i, err)
		}
	}
	h := NewHub(c)
	if err := h.Resume(aios.StreamID{Session: "other", Branch: "main"}, good); !errors.Is(err, ErrSnapshot) {
		t.Errorf("wrong stream: err = %v", err)
	}
	if err := h.Resume(aios.StreamID{Session: "s", Branch: "main"}, good); err != nil {
		t.Error(err)
	}
}

func TestEnvelopesDeterministic(t *testing.T) {
	trig := build("s", []step{{0, "r1", &aios.UserMessage{Content: "x"}}})[0]
	ps := []aios.Payload{&aios.ModeChanged{From: aios.ModeExecute, To: aios.ModeRecover, Reason: "r"}, &aios.GatesUpdated{Gates: []byte(`{}`), Reason: "r"}}
	id := aios.StreamID{Session: "s", Branch: "main"}
	a, b := Envelopes(id, &trig, ps), Envelopes(id, &trig, ps)
	if o := Envelopes(aios.StreamID{Session: "s", Branch: "fork"}, &trig, ps); o[0].EventID == a[0].EventID || o[0].BranchID != "fork" {
		t.Fatalf("branch envelope %+v", o[0])
	}
	if a[0].EventID != b[0].EventID || a[0].EventID == a[1].EventID || len(a[0].EventID) != 26 {
		t.Fatalf("ids %s %s %s", a[0].EventID, b[0].EventID, a[1].EventID)
	}
	for _, e := range a {
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		if act, ok := e.Actor(); !ok || act.Component != "autonomic" || e.ParentID != trig.EventID || e.RunID != "r1" {
			t.Errorf("envelope %+v", e)
		}
	}
}

func TestHubConcurrent(t *testing.T) {
	c, _ := New(DefaultConfig())
	h := NewHub(c)
	evs := build("c", randomSteps(rand.New(rand.NewPCG(1, 2)), 400))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range evs {
				if w == 0 {
					h.Apply(&evs[i])
				} else {
					_, _ = h.Decide(context.Background(), aios.StreamID{Session: "c", Branch: "main"})
					// Encoding reads every map of the view, as autonomicd does.
					if _, err := json.Marshal(h.View(aios.StreamID{Session: "c", Branch: "main"})); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	alone, _ := foldAll(t, c, aios.StreamID{Session: "c", Branch: "main"}, evs, nil)
	got, _ := h.Snapshot(aios.StreamID{Session: "c", Branch: "main"})
	if !bytes.Equal(got, mustSnapshot(t, c, alone)) {
		t.Fatal("concurrent hub differs from a lone fold")
	}
	if s := h.Streams(); len(s) != 1 || h.Seq(s[0]) != 400 {
		t.Fatalf("streams %v", s)
	}
}

func TestDecideEmptyStream(t *testing.T) {
	c, _ := New(DefaultConfig())
	g, err := NewHub(c).Decide(context.Background(), aios.StreamID{Session: "nobody", Branch: "main"})
	if err != nil || g.EconomicMode != aios.EconomicSovereign || !g.AllowTools {
		t.Fatalf("gating %+v err %v", g, err)
	}
	broke := DefaultConfig()
	zero := int64(0)
	broke.Projection.InitialBalance = &zero
	c, _ = New(broke)
	g, _ = NewHub(c).Decide(context.Background(), aios.StreamID{Session: "nobody", Branch: "main"})
	if g.EconomicMode != aios.EconomicHibernate || g.AllowTools || g.AllowNetwork || g.AllowShell {
		t.Fatalf("broke gating %+v", g)
	}
}

// TestViewIsACopy: a view taken before an event does not change with it, so
// autonomicd can encode it outside the hub's lock.
func TestViewIsACopy(t *testing.T) {
	c, _ := New(DefaultConfig())
	h := NewHub(c)
	id := aios.StreamID{Session: "v", Branch: "main"}
	evs := build("v", []step{
		{0, "r1", &aios.RunStarted{}},
		{time.Second, "r1", &aios.AssistantMessageCommitted{Model: "mock", TokenUsage: tok(10, 10)}},
		{2 * time.Second, "", &aios.PolicyEvaluated{ToolName: "bash", Decision: aios.PolicyDeny}},
		{3 * time.Second, "", &aios.CostIncurred{AmountMicroCredits: 5, Category: "tool"}},
	})
	for i := range evs {
		h.Apply(&evs[i])
	}
	v := h.View(id)
	before, _ := json.Marshal(v)
	more := build("v", []step{
		{0, "r2", &aios.RunStarted{}},
		{time.Second, "r2", &aios.AssistantMessageCommitted{Model: "mock", TokenUsage: tok(10, 10)}},
		{2 * time.Second, "", &aios.PolicyEvaluated{ToolName: "bash", Decision: aios.PolicyDeny}},
		{3 * time.Second, "", &aios.CostIncurred{AmountMicroCredits: 5, Category: "tool"}},
	})
	for i := range more {
		more[i].Seq += uint64(len(evs))
		h.Apply(&more[i])
	}
	if after, _ := json.Marshal(v); !bytes.Equal(before, after) {
		t.Fatalf("the view changed with later events:\n%s\n%s", before, after)
	}
}

// TestClockStepBack: a cost stamped far ahead trips the spend cap; once the
// real clock is back, the cap lifts after the dwell instead of holding until
// the clock catches up with the bad stamp.
func TestClockStepBack(t *testing.T) {
	c, _ := New(DefaultConfig())
	st := c.NewStream(aios.StreamID{Session: "k", Branch: "main"})
	evs := build("k", []step{
		{1000 * time.Hour, "", &aios.CostIncurred{AmountMicroCredits: 5e6, Category: "tool"}},
		{time.Minute, "", &aios.Message{Role: "user", Content: "hi"}},
		{2 * time.Minute, "", &aios.Message{Role: "user", Content: "hi"}},
	})
	c.Apply(st, &evs[0])
	if st.Gating.MaxTokens != 1024 {
		t.Fatalf("the spend cap did not trip: %+v", st.Gating)
	}
	for i := range evs[1:] {
		c.Apply(st, &evs[i+1])
	}
	if st.Gating.MaxTokens != 0 || len(st.Gating.Reasons) != 0 {
		t.Fatalf("still gated after the clock came back: %+v %s", st.Gating, st.State)
	}
}

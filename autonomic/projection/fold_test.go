package projection

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
)

// t0 is an arbitrary epoch for test streams (µs).
const t0 = uint64(1_700_000_000_000_000)

type ev struct {
	at  time.Duration // since t0
	run string
	p   aios.Payload
}

func envs(evs []ev) []aios.EventEnvelope {
	out := make([]aios.EventEnvelope, len(evs))
	for i, e := range evs {
		out[i] = aios.EventEnvelope{
			EventID: "E" + string(rune('A'+i%26)), SessionID: "s", BranchID: "main", RunID: e.run,
			Seq: uint64(i + 1), Timestamp: t0 + uint64(e.at.Microseconds()), Payload: e.p,
			SchemaVersion: 1,
		}
	}
	return out
}

func fold(t testing.TB, cfg Config, evs []ev) *State {
	t.Helper()
	p, err := NewProjector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := p.NewState(aios.StreamID{Session: "s", Branch: "main"})
	for _, e := range envs(evs) {
		p.Apply(s, &e)
	}
	return s
}

func usage(in, out uint32) *aios.TokenUsage {
	return &aios.TokenUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out}
}

func i64(v int64) *int64 { return &v }

func TestFold(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(*Config)
		evs   []ev
		check func(t *testing.T, s *State)
	}{
		{
			name: "error streak and rate",
			evs: []ev{
				{0, "", &aios.ToolCallCompleted{ToolName: "a", Status: aios.SpanOK}},
				{1, "", &aios.ToolCallFailed{ToolName: "a", Error: "x"}},
				{2, "", &aios.ToolCallCompleted{ToolName: "a", Status: aios.SpanTimeout}},
				{3, "", &aios.ErrorRaised{Message: "boom"}},
				{4, "", &aios.ToolCallCompleted{ToolName: "a", Status: aios.SpanCancelled}},
			},
			check: func(t *testing.T, s *State) {
				o := s.Operational
				if o.ErrorStreak != 3 || o.Outcomes != 4 || o.Errors != 3 || o.ToolCalls != 4 || o.ToolFailures != 2 {
					t.Errorf("operational = %+v", o)
				}
				if o.ErrorRate != 0.75 {
					t.Errorf("error rate = %v, want 0.75", o.ErrorRate)
				}
			},
		},
		{
			name: "error window forgets old outcomes",
			cfg:  func(c *Config) { c.ErrorWindow = 4 },
			evs: []ev{
				{0, "", &aios.ErrorRaised{Message: "a"}},
				{1, "", &aios.ErrorRaised{Message: "b"}},
				{2, "", &aios.ToolCallCompleted{Status: aios.SpanOK}},
				{3, "", &aios.ToolCallCompleted{Status: aios.SpanOK}},
				{4, "", &aios.ToolCallCompleted{Status: aios.SpanOK}},
				{5, "", &aios.ToolCallCompleted{Status: aios.SpanOK}},
			},
			check: func(t *testing.T, s *State) {
				if s.Operational.ErrorRate != 0 || s.Operational.ErrorStreak != 0 || s.Operational.WindowLen != 4 {
					t.Errorf("operational = %+v", s.Operational)
				}
			},
		},
		{
			name: "policy denials are not errors",
			evs: []ev{
				{0, "", &aios.PolicyEvaluated{ToolName: "bash", Decision: aios.PolicyDeny, RuleID: "autonomic"}},
				{1, "", &aios.ToolCallFailed{CallID: "1", ToolName: "bash", Error: "blocked by autonomic gate"}},
				{2, "", &aios.PolicyEvaluated{ToolName: "read", Decision: aios.PolicyAllow}},
				{3, "", &aios.ToolCallFailed{CallID: "2", ToolName: "bash", Error: "exit 1"}},
			},
			check: func(t *testing.T, s *State) {
				o := s.Operational
				if o.Denials != 1 || o.ToolFailures != 1 || o.Errors != 1 || o.ToolCalls != 1 || len(o.PendingDenials) != 0 {
					t.Errorf("operational = %+v", o)
				}
			},
		},
		{
			name: "run latency",
			evs: []ev{
				{0, "r1", &aios.RunStarted{Provider: "mock"}},
				{1500 * time.Millisecond, "r1", &aios.RunFinished{Reason: "completed"}},
				{2 * time.Second, "r2", &aios.RunStarted{Provider: "mock"}},
				{2*time.Second + 500*time.Millisecond, "r2", &aios.RunErrored{Error: "x"}},
			},
			check: func(t *testing.T, s *State) {
				o := s.Operational
				if o.Runs != 2 || o.RunErrors != 1 || o.LastRunLatencyMs != 500 || o.MaxRunLatencyMs != 1500 || o.MeanRunLatencyMs != 1000 || len(o.OpenRuns) != 0 {
					t.Errorf("operational = %+v", o)
				}
			},
		},
		{
			name: "token pricing by prefix, context pressure, tool density",
			cfg: func(c *Config) {
				c.Prices = PriceTable{"claude-sonnet-4": {InputPerMTok: 3, OutputPerMTok: 15, ContextWindow: 200000}}
				c.InitialBalance = i64(10_000_000)
			},
			evs: []ev{
				{0, "r", &aios.ToolCallRequested{CallID: "1", ToolName: "ls"}},
				{0, "r", &aios.ToolCallRequested{CallID: "2", ToolName: "ls"}},
				{time.Second, "r", &aios.AssistantMessageCommitted{Role: "assistant", Model: "claude-sonnet-4-20250514", TokenUsage: usage(100000, 20000)}},
				{2 * time.Second, "r", &aios.RunFinished{Reason: "completed", Usage: usage(100000, 20000)}},
			},
			check: func(t *testing.T, s *State) {
				c := s.Cognitive
				if c.TokensUsed != 120000 || c.InputTokens != 100000 || c.OutputTokens != 20000 {
					t.Errorf("tokens = %+v (RunFinished usage must not count twice)", c)
				}
				if c.ContextWindow != 200000 || c.ContextPressure != 0.6 {
					t.Errorf("context = %d/%d pressure %v", c.ContextTokens, c.ContextWindow, c.ContextPressure)
				}
				if c.ToolDensity != 2 || c.Turns != 1 {
					t.Errorf("density = %v turns %d", c.ToolDensity, c.Turns)
				}
				// 100k * 3 + 20k * 15 micro-credits.
				if e := s.Economic; e.LifetimeCost != 600000 || e.Balance != 9_400_000 {
					t.Errorf("economic = %+v", e)
				}
			},
		},
		{
			name: "run total counts when messages carried no usage; unpriced model",
			cfg:  func(c *Config) { c.Prices = PriceTable{} },
			evs: []ev{
				{0, "r", &aios.AssistantMessageCommitted{Role: "assistant", Model: "mystery"}},
				{1, "r", &aios.RunFinished{Reason: "completed", Usage: usage(10, 5)}},
			},
			check: func(t *testing.T, s *State) {
				if s.Cognitive.TokensUsed != 15 || s.Cognitive.UnpricedTokens != 15 || s.Economic.LifetimeCost != 0 {
					t.Errorf("cognitive = %+v", s.Cognitive)
				}
			},
		},
		{
			name: "compaction resets context and turns",
			evs: []ev{
				{0, "", &aios.Message{Role: "assistant", Model: "gpt-4o", TokenUsage: usage(100000, 0)}},
				{1, "", &aios.Message{Role: "user", Content: "hi"}},
				{2, "", &aios.ContextCompacted{DroppedCount: 10, TokensBefore: 100000, TokensAfter: 12800}},
			},
			check: func(t *testing.T, s *State) {
				c := s.Cognitive
				if c.Turns != 1 || c.TurnsSinceCompaction != 0 || c.Compactions != 1 || c.ContextPressure != 0.1 {
					t.Errorf("cognitive = %+v", c)
				}
			},
		},
		{
			name: "token budget from config and BudgetUpdated",
			cfg:  func(c *Config) { c.TokenBudget = 1000 },
			evs: []ev{
				{0, "", &aios.Message{Role: "assistant", Model: "mock", TokenUsage: usage(300, 100)}},
				{1, "", &aios.BudgetUpdated{Budget: aios.BudgetState{TokensRemaining: 600}, Reason: "x"}},
				{2, "", &aios.Message{Role: "assistant", Model: "mock", TokenUsage: usage(100, 0)}},
			},
			check: func(t *testing.T, s *State) {
				c := s.Cognitive
				if c.TokenBudget != 1000 || c.TokensRemaining != 500 || c.BudgetRemainingRatio != 0.5 {
					t.Errorf("cognitive = %+v", c)
				}
			},
		},
		{
			name: "burn rate and runway from timestamped costs",
			evs: func() []ev {
				evs := []ev{{0, "", &aios.BalanceSynced{BalanceMicroCredits: 200_000_000}}}
				// One credit a minute for an hour: 60 credits/h.
				for m := 1; m <= 60; m++ {
					evs = append(evs, ev{time.Duration(m) * time.Minute, "", &aios.CostIncurred{AmountMicroCredits: 1_000_000, Category: "tool"}})
				}
				return evs
			}(),
			check: func(t *testing.T, s *State) {
				e := s.Economic
				if e.Balance != 140_000_000 || e.LifetimeCost != 60_000_000 {
					t.Fatalf("economic = %+v", e)
				}
				// 60 credits over the hour the stream has lived.
				want := 60e6
				if math.Abs(e.BurnPerHour-want) > 1 {
					t.Errorf("burn = %v, want %v", e.BurnPerHour, want)
				}
				if e.RunwayHours == nil || math.Abs(*e.RunwayHours-140e6/want) > 1e-9 {
					t.Errorf("runway = %v", e.RunwayHours)
				}
				// The spend window (5 min, 10 s buckets) holds the last 5 costs.
				if e.CostLastWindow != 5_000_000 {
					t.Errorf("cost last window = %d", e.CostLastWindow)
				}
			},
		},
		{
			name: "burn window slides: old costs leave",
			evs: []ev{
				{0, "", &aios.BalanceSynced{BalanceMicroCredits: 5_000_000}},
				{time.Minute, "", &aios.CostIncurred{AmountMicroCredits: 3_000_000, Category: "tool"}},
				{3 * time.Hour, "", &aios.RevenueReceived{AmountMicroCredits: 1_000_000, Source: "x"}},
			},
			check: func(t *testing.T, s *State) {
				e := s.Economic
				if e.BurnPerHour != 0 || e.RunwayHours != nil || len(e.Buckets) != 0 || e.Balance != 3_000_000 || e.LifetimeRevenue != 1_000_000 {
					t.Errorf("economic = %+v", e)
				}
			},
		},
		{
			name: "balance at zero is a zero runway",
			evs: []ev{
				{0, "", &aios.BalanceSynced{BalanceMicroCredits: 1_000}},
				{time.Second, "", &aios.CostIncurred{AmountMicroCredits: 5_000, Category: "tool"}},
			},
			check: func(t *testing.T, s *State) {
				if s.Economic.Balance != -4000 || s.Economic.RunwayHours == nil || *s.Economic.RunwayHours != 0 {
					t.Errorf("economic = %+v", s.Economic)
				}
			},
		},
		{
			name: "token cost events: ignored under usage, priced under events",
			cfg:  func(c *Config) { c.TokenCostSource = CostFromEvents },
			evs: []ev{
				{0, "", &aios.CostIncurred{Category: "tokens", Model: "gpt-4o", InputTokens: 1000, OutputTokens: 1000}},
				{1, "", &aios.CostIncurred{Category: "tokens", AmountMicroCredits: 7}},
				{2, "", &aios.Message{Role: "assistant", Model: "gpt-4o", TokenUsage: usage(1000, 1000)}},
			},
			check: func(t *testing.T, s *State) {
				if s.Economic.LifetimeCost != 12500+7 {
					t.Errorf("cost = %d", s.Economic.LifetimeCost)
				}
			},
		},
		{
			name: "payments count only when configured",
			cfg:  func(c *Config) { c.CountPayments = true },
			evs: []ev{
				{0, "", &aios.CostIncurred{Category: "tokens", AmountMicroCredits: 99}},
				{1, "", &aios.PaymentSettled{AmountMicroCredits: 250000}},
			},
			check: func(t *testing.T, s *State) {
				if s.Economic.LifetimeCost != 250000 || s.Economic.Payments != 1 || s.Economic.PaymentsSettled != 250000 {
					t.Errorf("economic = %+v", s.Economic)
				}
			},
		},
		{
			name: "autonomic's own events are skipped",
			evs: []ev{
				{0, "", &aios.ModeChanged{From: aios.ModeExecute, To: aios.ModeRecover, Reason: "x"}},
				{time.Hour, "", &aios.GateUnavailable{Error: "x", FailOpen: true}},
			},
			check: func(t *testing.T, s *State) {
				if s.Now != 0 || s.Events != 2 || s.Seq != 2 {
					t.Errorf("state = %+v", s)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			tt.check(t, fold(t, cfg, tt.evs))
		})
	}
}

func TestApplySkipsReplays(t *testing.T) {
	p, _ := NewProjector(DefaultConfig())
	s := p.NewState(aios.StreamID{Session: "s", Branch: "main"})
	es := envs([]ev{{0, "", &aios.ErrorRaised{Message: "a"}}, {1, "", &aios.ErrorRaised{Message: "b"}}})
	for _, e := range es {
		if !p.Apply(s, &e) {
			t.Fatal("first apply skipped")
		}
	}
	for _, e := range es {
		if p.Apply(s, &e) {
			t.Fatalf("replay of seq %d applied", e.Seq)
		}
	}
	if s.Operational.Errors != 2 {
		t.Errorf("errors = %d", s.Operational.Errors)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Config)
	}{
		{"negative price", func(c *Config) { c.Prices["x"] = Price{InputPerMTok: -1} }},
		{"NaN price", func(c *Config) { c.Prices["x"] = Price{OutputPerMTok: math.NaN()} }},
		{"infinite price", func(c *Config) { c.Prices["x"] = Price{InputPerMTok: math.Inf(1)} }},
		{"empty model", func(c *Config) { c.Prices[""] = Price{} }},
		{"no context window", func(c *Config) { c.DefaultContextWindow = 0 }},
		{"cost source", func(c *Config) { c.TokenCostSource = "magic" }},
		{"error window", func(c *Config) { c.ErrorWindow = 65 }},
		{"bucket", func(c *Config) { c.Bucket = 0 }},
		// Under 1µs a bucket is zero timestamp units: the fold divided by it.
		{"sub-µs bucket", func(c *Config) {
			c.Bucket, c.SpendWindow, c.BurnWindow, c.MinBurnSpan = Duration(500), Duration(time.Millisecond), Duration(time.Millisecond), Duration(time.Millisecond)
		}},
		{"burn < spend", func(c *Config) { c.BurnWindow = Duration(time.Second) }},
		{"min span", func(c *Config) { c.MinBurnSpan = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mut(&c)
			if _, err := NewProjector(c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
	c := DefaultConfig()
	if _, err := NewProjector(c); err != nil {
		t.Fatalf("default config: %v", err)
	}
}

func TestDurationJSON(t *testing.T) {
	var d Duration
	if err := json.Unmarshal([]byte(`"90s"`), &d); err != nil || time.Duration(d) != 90*time.Second {
		t.Fatalf("d = %v err %v", d, err)
	}
	for _, bad := range []string{`90`, `"soon"`, `null`} {
		var d Duration
		if err := json.Unmarshal([]byte(bad), &d); err == nil && bad != "null" {
			t.Errorf("%s: no error", bad)
		}
	}
	b, _ := json.Marshal(Duration(5 * time.Minute))
	if string(b) != `"5m0s"` {
		t.Errorf("marshal = %s", b)
	}
}

// TestClockSkew: the fold's clock is the latest timestamp, but one event
// stamped far off (a clock stepped back, or a timestamp in ns) must not
// freeze the cost windows for the rest of the stream.
func TestClockSkew(t *testing.T) {
	cost := func(credits uint64) *aios.CostIncurred {
		return &aios.CostIncurred{AmountMicroCredits: credits * 1e6, Category: "tool"}
	}
	future := 1000 * time.Hour
	tests := []struct {
		name           string
		evs            []ev
		now            time.Duration
		spend, burnMin uint64 // credits in the spend window; least burn/h
	}{
		{"a late event within the burn window leaves the clock", []ev{
			{10 * time.Minute, "", cost(1)}, {9 * time.Minute, "", cost(1)},
		}, 10 * time.Minute, 2, 1},
		// The windows restart: costs before the jump left them when it came.
		{"one event stamped far ahead, then the real clock", []ev{
			{0, "", cost(1)}, {future, "", &aios.Message{Role: "user"}},
			{time.Minute, "", cost(1)}, {2 * time.Minute, "", cost(1)},
		}, 2 * time.Minute, 2, 1},
		{"a cost stamped far ahead leaves the windows when the clock returns", []ev{
			{future, "", cost(50)},
			{10 * time.Minute, "", cost(1)}, {20 * time.Minute, "", cost(1)}, {30 * time.Minute, "", cost(1)},
		}, 30 * time.Minute, 1, 1},
		// Nor the start of the stream: the burn is still 2 credits over
		// its 10 minutes of life, not over the hour.
		{"events without a timestamp do not move the clock", []ev{
			{0, "", cost(1)}, {10 * time.Minute, "", cost(1)},
		}, 10 * time.Minute, 1, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProjector(DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			s := p.NewState(aios.StreamID{Session: "s", Branch: "main"})
			for i, e := range envs(tt.evs) {
				p.Apply(s, &e)
				if tt.name == "events without a timestamp do not move the clock" && i == len(tt.evs)-1 {
					z := aios.EventEnvelope{EventID: "Z", SessionID: "s", BranchID: "main", Seq: 99, Payload: &aios.Message{Role: "user"}}
					p.Apply(s, &z)
				}
			}
			if want := t0 + uint64(tt.now.Microseconds()); s.Now != want {
				t.Errorf("now = t0%+v, want t0%+v", time.Duration(int64(s.Now-t0))*time.Microsecond, tt.now)
			}
			if s.Economic.CostLastWindow != tt.spend*1e6 {
				t.Errorf("cost of the last window = %d, want %d credits", s.Economic.CostLastWindow, tt.spend*1e6)
			}
			if s.Economic.BurnPerHour < float64(tt.burnMin*1e6) {
				t.Errorf("burn = %v/h, want at least %d credits/h", s.Economic.BurnPerHour, tt.burnMin)
			}
		})
	}
}

package projection

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/lifeos/life/aios"
)

// Projector folds events into a [State] under one configuration. It holds no
// per-stream state and is safe for concurrent use.
type Projector struct {
	cfg      Config
	prefixes []string
}

// NewProjector validates cfg and returns a projector for it.
func NewProjector(cfg Config) (*Projector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Projector{cfg: cfg, prefixes: sortedPrefixes(cfg.Prices)}, nil
}

// Config returns the projector's configuration.
func (p *Projector) Config() Config { return p.cfg }

// NewState returns the projection of a stream before any event, with the
// configured budget and initial balance.
func (p *Projector) NewState(stream aios.StreamID) *State {
	s := NewState(stream)
	if p.cfg.InitialBalance != nil {
		s.Economic.BalanceKnown = true
		s.Economic.Balance = *p.cfg.InitialBalance
	}
	s.Cognitive.TokenBudget = p.cfg.TokenBudget
	s.Cognitive.ContextWindow = p.cfg.DefaultContextWindow
	p.derive(s)
	return s
}

// IsOwnEvent reports whether e is one autonomic itself journals (mode and
// gate changes, gating decisions, gate outages). The fold skips them, so the
// projection depends only on what the agent did, and autonomic reading its
// own output cannot feed back into its decisions.
func IsOwnEvent(pl aios.Payload) bool {
	switch pl.(type) {
	case *aios.ModeChanged, *aios.GatesUpdated, *aios.GatingDecision,
		*aios.EconomicModeChanged, *aios.GateUnavailable:
		return true
	}
	return false
}

// Apply folds one event into s and reports whether it was applied. An event
// whose seq is not above s.Seq is a replay and is skipped (events with seq 0,
// never journaled, are always applied). Apply is pure: the result depends
// only on s, e and the configuration, never on the wall clock.
func (p *Projector) Apply(s *State, e *aios.EventEnvelope) bool {
	if e.Seq != 0 {
		if e.Seq <= s.Seq {
			return false
		}
		s.Seq = e.Seq
	}
	s.Events++
	if e.Payload == nil || IsOwnEvent(e.Payload) {
		return true
	}
	if e.Timestamp != 0 && (s.FirstTimestamp == 0 || e.Timestamp < s.FirstTimestamp) {
		s.FirstTimestamp = e.Timestamp
	}
	p.advance(s, e.Timestamp)

	switch pl := e.Payload.(type) {
	case *aios.RunStarted:
		if s.Operational.OpenRuns == nil {
			s.Operational.OpenRuns = make(map[string]uint64)
		}
		if len(s.Operational.OpenRuns) < maxOpenRuns {
			s.Operational.OpenRuns[e.RunID] = e.Timestamp
		}
	case *aios.RunFinished:
		p.endRun(s, e, pl.Reason == "error")
		if pl.Usage != nil && !s.Cognitive.RunsWithUsage[e.RunID] {
			p.usage(s, e, s.Cognitive.Model, *pl.Usage, false)
		}
		delete(s.Cognitive.RunsWithUsage, e.RunID)
	case *aios.RunErrored:
		p.endRun(s, e, true)
		delete(s.Cognitive.RunsWithUsage, e.RunID)
	case *aios.AssistantMessageCommitted:
		s.Cognitive.Turns++
		s.Cognitive.TurnsSinceCompaction++
		p.messageUsage(s, e, pl.Model, pl.TokenUsage)
	case *aios.Message:
		if pl.Role == "assistant" {
			s.Cognitive.Turns++
			s.Cognitive.TurnsSinceCompaction++
			p.messageUsage(s, e, pl.Model, pl.TokenUsage)
		}
	case *aios.ToolCallRequested:
		s.Cognitive.ToolCallsRequested++
	case *aios.ToolCallCompleted:
		s.Operational.ToolCalls++
		switch pl.Status {
		case aios.SpanOK:
			outcome(&s.Operational, false, p.cfg.ErrorWindow)
		case aios.SpanError, aios.SpanTimeout:
			s.Operational.ToolFailures++
			outcome(&s.Operational, true, p.cfg.ErrorWindow)
		}
	case *aios.PolicyEvaluated:
		if pl.Decision == aios.PolicyDeny {
			o := &s.Operational
			if o.PendingDenials == nil {
				o.PendingDenials = make(map[string]uint32)
			}
			if len(o.PendingDenials) < maxOpenRuns {
				o.PendingDenials[pl.ToolName]++
			}
		}
	case *aios.ToolCallFailed:
		o := &s.Operational
		if n := o.PendingDenials[pl.ToolName]; n > 0 {
			if n == 1 {
				delete(o.PendingDenials, pl.ToolName)
			} else {
				o.PendingDenials[pl.ToolName] = n - 1
			}
			o.Denials++
			break
		}
		o.ToolCalls++
		o.ToolFailures++
		outcome(o, true, p.cfg.ErrorWindow)
	case *aios.ErrorRaised:
		outcome(&s.Operational, true, p.cfg.ErrorWindow)
	case *aios.ContextCompacted:
		s.Cognitive.ContextTokens = pl.TokensAfter
		s.Cognitive.TurnsSinceCompaction = 0
		s.Cognitive.Compactions++
	case *aios.BudgetUpdated:
		s.Cognitive.TokenBudget = satAdd(s.Cognitive.TokensUsed, pl.Budget.TokensRemaining)
		s.Cognitive.UsedAtBudget = s.Cognitive.TokensUsed
		if s.Cognitive.TokenBudget == 0 {
			s.Cognitive.TokenBudget = 1 // a budget of nothing left, not "unlimited"
		}
	case *aios.BalanceSynced:
		s.Economic.BalanceKnown = true
		s.Economic.Balance = pl.BalanceMicroCredits
	case *aios.CostIncurred:
		amount := pl.AmountMicroCredits
		if pl.Category == "tokens" {
			if p.cfg.TokenCostSource == CostFromUsage {
				break // priced from the usage events instead
			}
			if amount == 0 {
				amount, _ = p.tokenCost(pl.Model, pl.InputTokens, pl.OutputTokens)
			}
		}
		p.spend(s, e.Timestamp, amount)
	case *aios.RevenueReceived:
		s.Economic.LifetimeRevenue = satAdd(s.Economic.LifetimeRevenue, pl.AmountMicroCredits)
		s.Economic.Balance = satAddSigned(s.Economic.Balance, pl.AmountMicroCredits)
	case *aios.PaymentSettled:
		s.Economic.Payments++
		s.Economic.PaymentsSettled = satAdd(s.Economic.PaymentsSettled, pl.AmountMicroCredits)
		if p.cfg.CountPayments {
			p.spend(s, e.Timestamp, pl.AmountMicroCredits)
		}
	}
	p.derive(s)
	return true
}

// advance moves the projection's clock to ts. A timestamp a little behind
// (writers out of step) leaves it where it is. One behind by more than the
// burn window means the clock was wrong until now (a step back, or an event
// stamped far ahead, say in ns instead of µs): following max alone, one
// such event would freeze every window and blind the economic pillar for
// good, so the clock goes back and the cost slots "after" it are dropped.
// Events without a timestamp (0) do not move the clock.
func (p *Projector) advance(s *State, ts uint64) {
	if ts == 0 || ts >= s.Now {
		s.Now = max(s.Now, ts)
		return
	}
	if s.Now-ts <= p.cfg.BurnWindow.Micros() {
		return
	}
	s.Now = ts
	ec := &s.Economic
	keep := len(ec.Buckets)
	for keep > 0 && ec.Buckets[keep-1].Start > ts {
		keep--
	}
	ec.Buckets = ec.Buckets[:keep]
}

// maxOpenRuns bounds the run-start map against a stream that never finishes
// its runs.
const maxOpenRuns = 1024

func (p *Projector) endRun(s *State, e *aios.EventEnvelope, failed bool) {
	o := &s.Operational
	o.Runs++
	if failed {
		o.RunErrors++
	}
	outcome(o, failed, p.cfg.ErrorWindow)
	start, ok := o.OpenRuns[e.RunID]
	if !ok {
		return
	}
	delete(o.OpenRuns, e.RunID)
	var ms uint64
	if e.Timestamp > start {
		ms = (e.Timestamp - start) / 1000
	}
	o.LastRunLatencyMs = ms
	o.MaxRunLatencyMs = max(o.MaxRunLatencyMs, ms)
	o.TotalRunLatencyMs = satAdd(o.TotalRunLatencyMs, ms)
	o.TimedRuns++
	o.MeanRunLatencyMs = o.TotalRunLatencyMs / o.TimedRuns
}

// outcome records a success or an error in the streak and the window.
func outcome(o *Operational, failed bool, window int) {
	o.Outcomes++
	o.WindowBits <<= 1
	if failed {
		o.Errors++
		o.ErrorStreak = min(o.ErrorStreak+1, math.MaxUint32-1)
		o.WindowBits |= 1
	} else {
		o.ErrorStreak = 0
	}
	if window < 64 {
		o.WindowBits &= 1<<window - 1
	}
	if int(o.WindowLen) < window {
		o.WindowLen++
	}
}

func (p *Projector) messageUsage(s *State, e *aios.EventEnvelope, model string, u *aios.TokenUsage) {
	if model != "" {
		s.Cognitive.Model = model
	}
	if u == nil {
		return
	}
	// Remember the run (even an unnamed one) so that its RunFinished total
	// is not counted again.
	if s.Cognitive.RunsWithUsage == nil {
		s.Cognitive.RunsWithUsage = make(map[string]bool)
	}
	if len(s.Cognitive.RunsWithUsage) < maxOpenRuns {
		s.Cognitive.RunsWithUsage[e.RunID] = true
	}
	p.usage(s, e, s.Cognitive.Model, *u, true)
}

// usage counts tokens and, when costs come from usage, prices them.
// contextSized says whether the usage is one model call (whose size is the
// context) rather than a run's total.
func (p *Projector) usage(s *State, e *aios.EventEnvelope, model string, u aios.TokenUsage, contextSized bool) {
	c := &s.Cognitive
	in, out := uint64(u.PromptTokens), uint64(u.CompletionTokens)
	total := max(uint64(u.TotalTokens), in+out)
	c.InputTokens = satAdd(c.InputTokens, in)
	c.OutputTokens = satAdd(c.OutputTokens, out)
	c.TokensUsed = satAdd(c.TokensUsed, total)
	if model == "" {
		model = p.cfg.DefaultModel
	}
	pr, priced := p.price(model)
	if contextSized {
		c.ContextTokens = total
		c.ContextWindow = p.cfg.DefaultContextWindow
		if priced && pr.ContextWindow > 0 {
			c.ContextWindow = pr.ContextWindow
		}
	}
	if !priced {
		c.UnpricedTokens = satAdd(c.UnpricedTokens, total)
		return
	}
	if p.cfg.TokenCostSource == CostFromUsage {
		cost, _ := p.tokenCost(model, in, out)
		p.spend(s, e.Timestamp, cost)
	}
}

// tokenCost prices tokens in micro-credits, rounded to the nearest.
func (p *Projector) tokenCost(model string, in, out uint64) (uint64, bool) {
	if model == "" {
		model = p.cfg.DefaultModel
	}
	pr, ok := p.price(model)
	if !ok {
		return 0, false
	}
	c := math.Round(float64(in)*pr.InputPerMTok + float64(out)*pr.OutputPerMTok)
	if c >= math.MaxUint64/2 {
		return math.MaxUint64 / 2, true
	}
	return uint64(c), true
}

// spend records a cost at ts in the balance and the cost buckets.
func (p *Projector) spend(s *State, ts, amount uint64) {
	if amount == 0 {
		return
	}
	ec := &s.Economic
	ec.LifetimeCost = satAdd(ec.LifetimeCost, amount)
	ec.Balance = satSubSigned(ec.Balance, amount)
	w := p.cfg.Bucket.Micros()
	start := ts - ts%w
	if n := len(ec.Buckets); n > 0 && start <= ec.Buckets[n-1].Start {
		// Same slot, or a late timestamp: it joins the newest slot.
		ec.Buckets[n-1].Amount = satAdd(ec.Buckets[n-1].Amount, amount)
		return
	}
	ec.Buckets = append(ec.Buckets, Bucket{Start: start, Amount: amount})
}

// derive recomputes the figures that follow from the counters at s.Now.
func (p *Projector) derive(s *State) {
	o := &s.Operational
	if o.WindowLen > 0 {
		o.ErrorRate = float64(bits.OnesCount64(o.WindowBits)) / float64(o.WindowLen)
	}

	c := &s.Cognitive
	if c.TokenBudget > 0 {
		spent := c.TokensUsed - c.UsedAtBudget
		base := c.TokenBudget - c.UsedAtBudget
		c.TokensRemaining = 0
		if base > spent {
			c.TokensRemaining = base - spent
		}
		c.BudgetRemainingRatio = float64(c.TokensRemaining) / float64(c.TokenBudget)
	} else {
		c.TokensRemaining, c.BudgetRemainingRatio = 0, 1
	}
	if c.ContextWindow > 0 {
		used := float64(c.ContextTokens)
		remaining := max(float64(c.ContextWindow)-used, 0)
		c.ContextPressure = used / (used + remaining)
		if used == 0 {
			c.ContextPressure = 0
		}
	}
	if c.Turns > 0 {
		c.ToolDensity = float64(c.ToolCallsRequested) / float64(c.Turns)
	}

	ec := &s.Economic
	now := s.Now
	burn := p.cfg.BurnWindow.Micros()
	// The windows are (now-W, now], at bucket resolution: a slot counts when
	// it starts inside the window.
	drop := 0
	for drop < len(ec.Buckets) && satAdd(ec.Buckets[drop].Start, burn) <= now {
		drop++
	}
	if drop > 0 {
		ec.Buckets = append(ec.Buckets[:0], ec.Buckets[drop:]...)
	}
	spendW := p.cfg.SpendWindow.Micros()
	var inSpend, inBurn uint64
	for _, b := range ec.Buckets {
		inBurn = satAdd(inBurn, b.Amount)
		if satAdd(b.Start, spendW) > now {
			inSpend = satAdd(inSpend, b.Amount)
		}
	}
	ec.CostLastWindow = inSpend
	ec.BurnPerHour = 0
	if inBurn > 0 {
		span := burn
		// A young stream extrapolates from its whole life, not the window.
		if now > s.FirstTimestamp && now-s.FirstTimestamp < span {
			span = now - s.FirstTimestamp
		}
		span = max(span, p.cfg.MinBurnSpan.Micros())
		ec.BurnPerHour = float64(inBurn) * 3600e6 / float64(span)
	}
	ec.RunwayHours = nil
	if ec.BalanceKnown && ec.BurnPerHour > 0 {
		h := max(float64(ec.Balance), 0) / ec.BurnPerHour
		ec.RunwayHours = &h
	} else if ec.BalanceKnown && ec.Balance <= 0 {
		h := 0.0
		ec.RunwayHours = &h
	}
}

func satAdd(a, b uint64) uint64 {
	if s, carry := bits.Add64(a, b, 0); carry == 0 {
		return s
	}
	return math.MaxUint64
}

func satAddSigned(a int64, b uint64) int64 {
	if b > math.MaxInt64 || a > math.MaxInt64-int64(b) {
		return math.MaxInt64
	}
	return a + int64(b)
}

func satSubSigned(a int64, b uint64) int64 {
	if b > math.MaxInt64 || a < math.MinInt64+int64(b) {
		return math.MinInt64
	}
	return a - int64(b)
}

// String summarises s for logs.
func (s *State) String() string {
	rw := "inf"
	if s.Economic.RunwayHours != nil {
		rw = fmt.Sprintf("%.2fh", *s.Economic.RunwayHours)
	}
	return fmt.Sprintf("%s/%s@%d streak=%d err=%.2f ctx=%.2f budget=%.2f balance=%d burn=%.0f/h runway=%s mode=%s",
		s.Session, s.Branch, s.Seq, s.Operational.ErrorStreak, s.Operational.ErrorRate,
		s.Cognitive.ContextPressure, s.Cognitive.BudgetRemainingRatio, s.Economic.Balance,
		s.Economic.BurnPerHour, rw, s.Economic.Mode)
}

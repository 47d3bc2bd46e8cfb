package projection

import (
	"github.com/lifeos/life/aios"
)

// State is the homeostatic projection of one stream: three pillars plus the
// bookkeeping the fold needs. It is plain data: its JSON is the snapshot.
type State struct {
	Session string `json:"session"`
	Branch  string `json:"branch"`
	// Seq is the last folded seq; events at or below it are skipped.
	Seq uint64 `json:"seq"`
	// Events counts the events folded (autonomic's own included).
	Events uint64 `json:"events"`
	// FirstTimestamp and Now are the first and the latest event timestamps
	// (µs); Now is the projection's clock.
	FirstTimestamp uint64 `json:"first_timestamp"`
	Now            uint64 `json:"now"`

	Operational Operational `json:"operational"`
	Cognitive   Cognitive   `json:"cognitive"`
	Economic    Economic    `json:"economic"`
}

// Operational is the health of the work itself.
type Operational struct {
	// ErrorStreak counts consecutive failed outcomes (tool failures, run
	// errors, raised errors); a success resets it.
	ErrorStreak uint32 `json:"error_streak"`
	// ErrorRate is the share of errors among the last WindowLen outcomes.
	ErrorRate float64 `json:"error_rate"`
	WindowLen uint8   `json:"window_len"`
	// WindowBits holds the last outcomes, newest in bit 0, 1 = error.
	WindowBits uint64 `json:"window_bits"`
	Outcomes   uint64 `json:"outcomes"`
	Errors     uint64 `json:"errors"`

	ToolCalls    uint64 `json:"tool_calls"`
	ToolFailures uint64 `json:"tool_failures"`
	// Denials counts tool calls refused by policy or by the gate itself
	// (a PolicyEvaluated deny, then the ToolCallFailed that reports it).
	// They are not errors: counting them would let a restriction feed the
	// error rate and tighten itself.
	Denials uint64 `json:"denials"`
	// PendingDenials counts, per tool, denials whose ToolCallFailed is
	// still to come.
	PendingDenials map[string]uint32 `json:"pending_denials,omitempty"`

	Runs              uint64 `json:"runs"`
	RunErrors         uint64 `json:"run_errors"`
	LastRunLatencyMs  uint64 `json:"last_run_latency_ms"`
	MaxRunLatencyMs   uint64 `json:"max_run_latency_ms"`
	MeanRunLatencyMs  uint64 `json:"mean_run_latency_ms"`
	TotalRunLatencyMs uint64 `json:"total_run_latency_ms"`
	TimedRuns         uint64 `json:"timed_runs"`
	// OpenRuns maps a started run's id to its start timestamp.
	OpenRuns map[string]uint64 `json:"open_runs,omitempty"`
}

// Cognitive is the pressure on the model's attention and token budget.
type Cognitive struct {
	Model        string `json:"model,omitempty"`
	InputTokens  uint64 `json:"input_tokens"`
	OutputTokens uint64 `json:"output_tokens"`
	TokensUsed   uint64 `json:"tokens_used"`
	// TokenBudget is 0 when unlimited; TokensRemaining and
	// BudgetRemainingRatio are then 0 and 1.
	TokenBudget          uint64  `json:"token_budget"`
	TokensRemaining      uint64  `json:"tokens_remaining"`
	BudgetRemainingRatio float64 `json:"budget_remaining_ratio"`
	// UsedAtBudget is TokensUsed when the budget was last set.
	UsedAtBudget uint64 `json:"used_at_budget"`

	// ContextTokens is the size of the context at the last model call
	// (prompt + completion), or what a compaction left.
	ContextTokens uint64 `json:"context_tokens"`
	ContextWindow uint64 `json:"context_window"`
	// ContextPressure is used / (used + remaining) of the context window.
	ContextPressure float64 `json:"context_pressure"`

	Turns                uint64  `json:"turns"`
	ToolCallsRequested   uint64  `json:"tool_calls_requested"`
	ToolDensity          float64 `json:"tool_density"` // tool calls per turn
	TurnsSinceCompaction uint64  `json:"turns_since_compaction"`
	Compactions          uint64  `json:"compactions"`
	// UnpricedTokens counts tokens of models missing from the price table.
	UnpricedTokens uint64 `json:"unpriced_tokens"`
	// RunsWithUsage lists open runs whose messages carried token usage, so
	// the run's total in RunFinished is not counted again.
	RunsWithUsage map[string]bool `json:"runs_with_usage,omitempty"`
}

// Economic is money: balance, flows, burn rate, runway and mode.
type Economic struct {
	BalanceKnown bool  `json:"balance_known"`
	Balance      int64 `json:"balance_micro_credits"`

	LifetimeCost    uint64 `json:"lifetime_cost_micro_credits"`
	LifetimeRevenue uint64 `json:"lifetime_revenue_micro_credits"`
	PaymentsSettled uint64 `json:"payments_settled_micro_credits"`
	Payments        uint64 `json:"payments"`

	// CostLastWindow is the cost of the last SpendWindow (5 minutes).
	CostLastWindow uint64 `json:"cost_last_window_micro_credits"`
	// BurnPerHour is gross spend per hour over the burn window.
	BurnPerHour float64 `json:"burn_rate_micro_credits_per_hour"`
	// RunwayHours is balance / burn; nil when nothing burns or the balance
	// is unknown (an unbounded runway).
	RunwayHours *float64 `json:"runway_hours"`
	// Buckets are the costs of the burn window, oldest first.
	Buckets []Bucket `json:"buckets,omitempty"`

	// Mode is the current economic mode, set by the controller.
	Mode aios.EconomicMode `json:"mode"`
}

// Bucket is the cost of one time slot starting at Start (µs).
type Bucket struct {
	Start  uint64 `json:"start"`
	Amount uint64 `json:"amount"`
}

// NewState returns the empty projection of a stream.
func NewState(stream aios.StreamID) *State {
	return &State{Session: stream.Session, Branch: stream.Branch, Economic: Economic{Mode: aios.EconomicSovereign}}
}

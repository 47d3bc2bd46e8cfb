package projection

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Duration is a time.Duration written in JSON as a Go duration string ("5m").
type Duration time.Duration

// MarshalJSON writes d as "1h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "90s" or "1h".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"5m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// Micros is d in microseconds, the unit of event timestamps.
func (d Duration) Micros() uint64 { return uint64(max(time.Duration(d).Microseconds(), 0)) }

// Price is what a model costs, in credits per million tokens (which is the
// same number as micro-credits per token), and how many tokens its context
// window holds.
type Price struct {
	InputPerMTok  float64 `json:"input_per_mtok"`
	OutputPerMTok float64 `json:"output_per_mtok"`
	ContextWindow uint64  `json:"context_window,omitempty"`
}

// PriceTable maps a model name, or a model name prefix, to its price.
type PriceTable map[string]Price

// Token cost sources (Config.TokenCostSource).
const (
	// CostFromUsage prices token usage events with the price table and
	// ignores CostIncurred events of category "tokens" (they would count the
	// same tokens twice).
	CostFromUsage = "usage"
	// CostFromEvents takes token costs only from CostIncurred events; usage
	// events count tokens but cost nothing.
	CostFromEvents = "events"
)

// ErrInvalidConfig is matched by every configuration error.
var ErrInvalidConfig = errors.New("projection: invalid config")

// Config tunes the fold. The zero value is not valid; start from
// [DefaultConfig].
type Config struct {
	// Prices by model name; a name missing from the table matches its
	// longest listed prefix.
	Prices PriceTable `json:"prices"`
	// DefaultModel prices usage that names no model.
	DefaultModel string `json:"default_model,omitempty"`
	// DefaultContextWindow applies to models without a context_window.
	DefaultContextWindow uint64 `json:"default_context_window"`
	// TokenBudget is the session's token budget; 0 means unlimited until a
	// BudgetUpdated event sets one.
	TokenBudget uint64 `json:"token_budget"`
	// InitialBalance, when set, is the balance in micro-credits before any
	// BalanceSynced event. Without it the balance is unknown (and the
	// survival rule silent) until the first BalanceSynced.
	InitialBalance *int64 `json:"initial_balance_micro_credits,omitempty"`
	// TokenCostSource is CostFromUsage (default) or CostFromEvents.
	TokenCostSource string `json:"token_cost_source"`
	// CountPayments makes finance.payment_settled lower the balance; leave
	// it off when the payer also journals a CostIncurred for each payment.
	CountPayments bool `json:"count_payments"`
	// ErrorWindow is how many recent outcomes the error rate covers (1..64).
	ErrorWindow int `json:"error_window"`
	// SpendWindow is the window of the spend-velocity figure (5 minutes).
	SpendWindow Duration `json:"spend_window"`
	// BurnWindow is the window the burn rate is measured over.
	BurnWindow Duration `json:"burn_window"`
	// MinBurnSpan is the shortest span a burn rate is extrapolated from, so
	// that one early cost does not project an absurd hourly rate.
	MinBurnSpan Duration `json:"min_burn_span"`
	// Bucket is the resolution of the cost windows.
	Bucket Duration `json:"bucket"`
}

// DefaultConfig returns a working configuration with a small price table.
// The prices are examples to override, not quotes.
func DefaultConfig() Config {
	return Config{
		Prices: PriceTable{
			"mock":              {InputPerMTok: 0, OutputPerMTok: 0, ContextWindow: 128000},
			"claude-sonnet-4":   {InputPerMTok: 3, OutputPerMTok: 15, ContextWindow: 200000},
			"claude-opus-4":     {InputPerMTok: 15, OutputPerMTok: 75, ContextWindow: 200000},
			"claude-haiku-4":    {InputPerMTok: 1, OutputPerMTok: 5, ContextWindow: 200000},
			"gpt-4o":            {InputPerMTok: 2.5, OutputPerMTok: 10, ContextWindow: 128000},
			"gpt-4o-mini":       {InputPerMTok: 0.15, OutputPerMTok: 0.6, ContextWindow: 128000},
			"llama3":            {InputPerMTok: 0, OutputPerMTok: 0, ContextWindow: 8192},
			"claude-3-5-sonnet": {InputPerMTok: 3, OutputPerMTok: 15, ContextWindow: 200000},
		},
		DefaultContextWindow: 128000,
		TokenCostSource:      CostFromUsage,
		ErrorWindow:          20,
		SpendWindow:          Duration(5 * time.Minute),
		BurnWindow:           Duration(time.Hour),
		MinBurnSpan:          Duration(5 * time.Minute),
		Bucket:               Duration(10 * time.Second),
	}
}

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var p []string
	for name, pr := range c.Prices {
		if name == "" {
			p = append(p, "prices: empty model name")
		}
		if !finite(pr.InputPerMTok) || !finite(pr.OutputPerMTok) || pr.InputPerMTok < 0 || pr.OutputPerMTok < 0 {
			p = append(p, fmt.Sprintf("prices[%q]: prices must be finite non-negative numbers", name))
		}
	}
	if c.DefaultContextWindow == 0 {
		p = append(p, "default_context_window must be > 0")
	}
	switch c.TokenCostSource {
	case CostFromUsage, CostFromEvents:
	default:
		p = append(p, fmt.Sprintf("token_cost_source %q: want %q or %q", c.TokenCostSource, CostFromUsage, CostFromEvents))
	}
	if c.ErrorWindow < 1 || c.ErrorWindow > 64 {
		p = append(p, fmt.Sprintf("error_window %d: want 1..64", c.ErrorWindow))
	}
	// Event timestamps are µs: a shorter bucket would be zero of them.
	if c.Bucket < Duration(time.Microsecond) {
		p = append(p, "bucket must be at least 1µs")
	}
	if c.SpendWindow < c.Bucket {
		p = append(p, "spend_window must be at least one bucket")
	}
	if c.BurnWindow < c.SpendWindow {
		p = append(p, "burn_window must be at least spend_window")
	}
	if c.MinBurnSpan <= 0 || c.MinBurnSpan > c.BurnWindow {
		p = append(p, "min_burn_span must be in (0, burn_window]")
	}
	if c.BurnWindow > 0 && c.Bucket > 0 && c.BurnWindow/c.Bucket > 100000 {
		p = append(p, "burn_window/bucket is over 100000 buckets")
	}
	if len(p) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(p, "; "))
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// price finds a model's price: exact name, else the longest listed prefix.
func (p *Projector) price(model string) (Price, bool) {
	if pr, ok := p.cfg.Prices[model]; ok {
		return pr, true
	}
	for _, k := range p.prefixes {
		if strings.HasPrefix(model, k) {
			return p.cfg.Prices[k], true
		}
	}
	return Price{}, false
}

func sortedPrefixes(t PriceTable) []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return keys
}

package aios

import "encoding/json"

// Typed subsystem events. Each encodes as
// {"type":"Custom","event_type":<EventType()>,"data":<the struct>}, the form
// the reference writes. Fields are declared in sorted JSON key order, and
// amounts of money are integer micro-credits (1,000,000 = one credit).

// Event types of the typed subsystem events.
const (
	EventSoulGenesis         = "anima.soul_genesis"
	EventIdentityRotated     = "anima.identity_rotated"
	EventIdentityRevoked     = "anima.identity_revoked"
	EventCustodyMigrated     = "anima.custody_migrated"
	EventPaymentIntended     = "finance.payment_intended"
	EventPaymentSettled      = "finance.payment_settled"
	EventPaymentFailed       = "finance.payment_failed"
	EventCostIncurred        = "finance.cost_incurred"
	EventRevenueReceived     = "finance.revenue_received"
	EventBalanceSynced       = "finance.balance_synced"
	EventGatingDecision      = "autonomic.GatingDecision"
	EventEconomicModeChanged = "autonomic.economic_mode_changed"
	EventGateUnavailable     = "autonomic.gate_unavailable"
)

// SoulGenesis is the first event of an agent's identity journal: its soul
// document (defined by anima), the soul's hash, and the keys derived for it.
type SoulGenesis struct {
	DID           string          `json:"did"`
	Soul          json.RawMessage `json:"soul"`
	SoulHash      string          `json:"soul_hash"`
	WalletAddress string          `json:"wallet_address"`
}

// IdentityRotated records a key rotation; the proof is a JWS signed by the old
// key with claims {iss: old DID, sub: new DID, type: "anima.rotation_proof", iat}.
type IdentityRotated struct {
	NewDID           string `json:"new_did"`
	OldDID           string `json:"old_did"`
	RotatedAt        uint64 `json:"rotated_at"` // µs since the epoch
	RotationProofJWS string `json:"rotation_proof_jws"`
}

// IdentityRevoked marks a DID as no longer trusted.
type IdentityRevoked struct {
	DID       string `json:"did"`
	Reason    string `json:"reason"`
	RevokedAt uint64 `json:"revoked_at"` // µs since the epoch
}

// CustodyMigrated records that an identity's keys moved to another backend.
type CustodyMigrated struct {
	DID         string `json:"did"`
	FromBackend string `json:"from_backend"`
	MigratedAt  uint64 `json:"migrated_at"` // µs since the epoch
	ToBackend   string `json:"to_backend"`
}

// PaymentIntended is journaled before a payment is attempted, so a retry or a
// crash can never pay twice for the same intent.
type PaymentIntended struct {
	AmountMicroCredits uint64 `json:"amount_micro_credits"`
	Asset              string `json:"asset,omitempty"`
	IntentID           string `json:"intent_id"`
	Network            string `json:"network,omitempty"`
	PayTo              string `json:"pay_to"`
	Resource           string `json:"resource"`
}

// PaymentSettled records a settled payment (the shape of the reference's
// finance.payment_settled).
type PaymentSettled struct {
	AmountMicroCredits uint64 `json:"amount_micro_credits"`
	Chain              string `json:"chain"`
	Facilitator        string `json:"facilitator"`
	IntentID           string `json:"intent_id,omitempty"`
	LatencyMs          uint64 `json:"latency_ms"`
	Payer              string `json:"payer"`
	TxHash             string `json:"tx_hash"`
}

// PaymentFailed records that the payment for an intent did not happen.
type PaymentFailed struct {
	Error    string `json:"error"`
	IntentID string `json:"intent_id"`
}

// CostIncurred records money spent: model tokens, a paid tool, a payment.
type CostIncurred struct {
	AmountMicroCredits uint64 `json:"amount_micro_credits"`
	Category           string `json:"category"` // tokens, tool, payment, ...
	InputTokens        uint64 `json:"input_tokens,omitempty"`
	Model              string `json:"model,omitempty"`
	OutputTokens       uint64 `json:"output_tokens,omitempty"`
}

// RevenueReceived records money earned.
type RevenueReceived struct {
	AmountMicroCredits uint64 `json:"amount_micro_credits"`
	Source             string `json:"source"`
}

// BalanceSynced sets the known balance, for example from a wallet read.
type BalanceSynced struct {
	BalanceMicroCredits int64 `json:"balance_micro_credits"`
}

// GatingDecision is autonomic's advice for a session, journaled when it changes.
type GatingDecision Gating

// EconomicModeChanged records an economic mode transition and why.
type EconomicModeChanged struct {
	From   EconomicMode `json:"from"`
	Reason string       `json:"reason"`
	To     EconomicMode `json:"to"`
}

// GateUnavailable records that the runtime went on without autonomic's advice.
type GateUnavailable struct {
	Error    string `json:"error"`
	FailOpen bool   `json:"fail_open"`
}

// Type returns "Custom" for every subsystem event.
func (*SoulGenesis) Type() string         { return "Custom" }
func (*IdentityRotated) Type() string     { return "Custom" }
func (*IdentityRevoked) Type() string     { return "Custom" }
func (*CustodyMigrated) Type() string     { return "Custom" }
func (*PaymentIntended) Type() string     { return "Custom" }
func (*PaymentSettled) Type() string      { return "Custom" }
func (*PaymentFailed) Type() string       { return "Custom" }
func (*CostIncurred) Type() string        { return "Custom" }
func (*RevenueReceived) Type() string     { return "Custom" }
func (*BalanceSynced) Type() string       { return "Custom" }
func (*GatingDecision) Type() string      { return "Custom" }
func (*EconomicModeChanged) Type() string { return "Custom" }
func (*GateUnavailable) Type() string     { return "Custom" }

// EventType returns the dotted event type.
func (*SoulGenesis) EventType() string         { return EventSoulGenesis }
func (*IdentityRotated) EventType() string     { return EventIdentityRotated }
func (*IdentityRevoked) EventType() string     { return EventIdentityRevoked }
func (*CustodyMigrated) EventType() string     { return EventCustodyMigrated }
func (*PaymentIntended) EventType() string     { return EventPaymentIntended }
func (*PaymentSettled) EventType() string      { return EventPaymentSettled }
func (*PaymentFailed) EventType() string       { return EventPaymentFailed }
func (*CostIncurred) EventType() string        { return EventCostIncurred }
func (*RevenueReceived) EventType() string     { return EventRevenueReceived }
func (*BalanceSynced) EventType() string       { return EventBalanceSynced }
func (*GatingDecision) EventType() string      { return EventGatingDecision }
func (*EconomicModeChanged) EventType() string { return EventEconomicModeChanged }
func (*GateUnavailable) EventType() string     { return EventGateUnavailable }

var subsystemEventTypes = []string{
	EventSoulGenesis, EventIdentityRotated, EventIdentityRevoked, EventCustodyMigrated,
	EventPaymentIntended, EventPaymentSettled, EventPaymentFailed, EventCostIncurred,
	EventRevenueReceived, EventBalanceSynced, EventGatingDecision, EventEconomicModeChanged,
	EventGateUnavailable,
}

func newSubsystemEvent(eventType string) SubsystemEvent {
	switch eventType {
	case EventSoulGenesis:
		return new(SoulGenesis)
	case EventIdentityRotated:
		return new(IdentityRotated)
	case EventIdentityRevoked:
		return new(IdentityRevoked)
	case EventCustodyMigrated:
		return new(CustodyMigrated)
	case EventPaymentIntended:
		return new(PaymentIntended)
	case EventPaymentSettled:
		return new(PaymentSettled)
	case EventPaymentFailed:
		return new(PaymentFailed)
	case EventCostIncurred:
		return new(CostIncurred)
	case EventRevenueReceived:
		return new(RevenueReceived)
	case EventBalanceSynced:
		return new(BalanceSynced)
	case EventGatingDecision:
		return new(GatingDecision)
	case EventEconomicModeChanged:
		return new(EconomicModeChanged)
	case EventGateUnavailable:
		return new(GateUnavailable)
	}
	return nil
}

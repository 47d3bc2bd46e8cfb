package aios

import (
	"encoding/json"
	"errors"
	"fmt"
)

// TokenUsage counts model tokens. All three counters are always written;
// a missing one reads as 0.
type TokenUsage struct {
	PromptTokens     uint32 `json:"prompt_tokens" aios:"default"`
	CompletionTokens uint32 `json:"completion_tokens" aios:"default"`
	TotalTokens      uint32 `json:"total_tokens" aios:"default"`
}

// UnmarshalJSON matches keys exactly, as the reference does: encoding/json
// would also take "Prompt_Tokens" as prompt_tokens, which serde ignores.
func (u *TokenUsage) UnmarshalJSON(raw []byte) error {
	type plain TokenUsage
	_, err := decodeObject(raw, (*plain)(u), "TokenUsage", "")
	return err
}

// Add returns the sum of u and o, saturating instead of wrapping.
func (u TokenUsage) Add(o TokenUsage) TokenUsage {
	sat := func(a, b uint32) uint32 {
		if a+b < a {
			return ^uint32(0)
		}
		return a + b
	}
	return TokenUsage{
		PromptTokens:     sat(u.PromptTokens, o.PromptTokens),
		CompletionTokens: sat(u.CompletionTokens, o.CompletionTokens),
		TotalTokens:      sat(u.TotalTokens, o.TotalTokens),
	}
}

// BudgetState is what remains of each resource budget.
type BudgetState struct {
	TokensRemaining      uint64  `json:"tokens_remaining"`
	TimeRemainingMs      uint64  `json:"time_remaining_ms"`
	CostRemainingUSD     Float64 `json:"cost_remaining_usd"`
	ToolCallsRemaining   uint32  `json:"tool_calls_remaining"`
	ErrorBudgetRemaining uint32  `json:"error_budget_remaining"`
}

// UnmarshalJSON requires every field, as the reference does.
func (b *BudgetState) UnmarshalJSON(raw []byte) error {
	type plain BudgetState
	_, err := decodeObject(raw, (*plain)(b), "BudgetState", "")
	return err
}

// AgentStateVector is the homeostatic estimate of the agent's condition.
type AgentStateVector struct {
	Progress           Float32     `json:"progress"`
	Uncertainty        Float32     `json:"uncertainty"`
	RiskLevel          RiskLevel   `json:"risk_level"`
	Budget             BudgetState `json:"budget"`
	ErrorStreak        uint32      `json:"error_streak"`
	ContextPressure    Float32     `json:"context_pressure"`
	SideEffectPressure Float32     `json:"side_effect_pressure"`
	HumanDependency    Float32     `json:"human_dependency"`
}

// UnmarshalJSON requires every field, as the reference does.
func (s *AgentStateVector) UnmarshalJSON(raw []byte) error {
	type plain AgentStateVector
	_, err := decodeObject(raw, (*plain)(s), "AgentStateVector", "")
	return err
}

// Gating is the advice autonomic gives the runtime before a turn: the
// economic and operating modes and the limits that follow from them. The
// runtime enforces it outside the model. Zero caps mean "no cap". Fields are
// in sorted key order (it travels as Custom data).
type Gating struct {
	Advice              Strings       `json:"advice" aios:"default"` // e.g. "compress_context"
	AllowNetwork        bool          `json:"allow_network"`
	AllowShell          bool          `json:"allow_shell"`
	AllowTools          bool          `json:"allow_tools"`
	DeniedTools         Strings       `json:"denied_tools" aios:"default"`
	EconomicMode        EconomicMode  `json:"economic_mode"`
	MaxTokens           uint32        `json:"max_tokens" aios:"default"`
	MaxToolCallsPerTurn uint32        `json:"max_tool_calls_per_turn" aios:"default"`
	OperatingMode       OperatingMode `json:"operating_mode,omitempty"`
	Reasons             Strings       `json:"reasons" aios:"default"`
}

// OpenGating is the advice of a gate that restricts nothing: what the runtime
// uses when no autonomic controller is configured or it is unreachable.
func OpenGating() Gating {
	return Gating{AllowNetwork: true, AllowShell: true, AllowTools: true, EconomicMode: EconomicSovereign}
}

// PolicyDecision is a verdict on one tool call.
type PolicyDecision struct {
	Decision    PolicyDecisionKind `json:"decision"`
	RuleID      string             `json:"rule_id,omitempty"`
	Explanation string             `json:"explanation,omitempty"`
}

// BlobRef points at a blob from a state patch.
type BlobRef struct {
	BlobID      string          `json:"blob_id"`
	ContentType string          `json:"content_type"`
	Codec       string          `json:"codec,omitempty"`
	Meta        json.RawMessage `json:"meta,omitempty"`
}

// UnmarshalJSON requires blob_id and content_type.
func (r *BlobRef) UnmarshalJSON(raw []byte) error {
	type plain BlobRef
	_, err := decodeObject(raw, (*plain)(r), "BlobRef", "")
	return err
}

// ProvenanceRef names what a patch was derived from: an event or a blob.
type ProvenanceRef struct {
	Kind    string // "event" or "blob"
	EventID string // when Kind is "event"
	BlobID  string // when Kind is "blob"
}

// MarshalJSON writes {"type":"event","event_id":...} or {"type":"blob","blob_id":...}.
func (p ProvenanceRef) MarshalJSON() ([]byte, error) {
	switch {
	case p.Kind == "event" && p.EventID == "", p.Kind == "blob" && p.BlobID == "":
		return nil, fmt.Errorf("aios: %s provenance without its id", p.Kind) // it would not decode
	}
	switch p.Kind {
	case "event":
		return encodeTagged("type", "event", struct {
			EventID string `json:"event_id"`
		}{p.EventID}, nil)
	case "blob":
		return encodeTagged("type", "blob", struct {
			BlobID string `json:"blob_id"`
		}{p.BlobID}, nil)
	}
	return nil, fmt.Errorf("aios: provenance kind %q", p.Kind)
}

// UnmarshalJSON reads either form and rejects any other.
func (p *ProvenanceRef) UnmarshalJSON(raw []byte) error {
	var v struct {
		Type    string `json:"type"`
		EventID string `json:"event_id,omitempty"`
		BlobID  string `json:"blob_id,omitempty"`
	}
	if _, err := decodeObject(raw, &v, "ProvenanceRef", ""); err != nil {
		return err
	}
	switch {
	case v.Type == "event" && v.EventID != "":
		*p = ProvenanceRef{Kind: "event", EventID: v.EventID}
	case v.Type == "blob" && v.BlobID != "":
		*p = ProvenanceRef{Kind: "blob", BlobID: v.BlobID}
	default:
		return &DecodeError{Type: "ProvenanceRef", Err: fmt.Errorf("bad provenance %s", raw)}
	}
	return nil
}

// Patch operation names.
const (
	OpSet       = "set"
	OpMerge     = "merge"
	OpAppend    = "append"
	OpTombstone = "tombstone"
	OpSetRef    = "set_ref"
)

// PatchOp is one operation of a [StatePatch], tagged by "op". Path is a JSON
// pointer (RFC 6901). Which other fields matter depends on Op.
type PatchOp struct {
	Op         string
	Path       string
	Value      json.RawMessage   // set
	Object     json.RawMessage   // merge: an RFC 7386 merge patch
	Values     []json.RawMessage // append
	Reason     string            // tombstone
	ReplacedBy string            // tombstone, optional
	BlobRef    *BlobRef          // set_ref
}

// The wire shapes of each op, in wire order.
type (
	setOp struct {
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	mergeOp struct {
		Path   string          `json:"path"`
		Object json.RawMessage `json:"object"`
	}
	appendOp struct {
		Path   string            `json:"path"`
		Values []json.RawMessage `json:"values"`
	}
	tombstoneOp struct {
		Path       string `json:"path"`
		Reason     string `json:"reason"`
		ReplacedBy string `json:"replaced_by,omitempty"`
	}
	setRefOp struct {
		Path    string  `json:"path"`
		BlobRef BlobRef `json:"blob_ref"`
	}
)

// MarshalJSON writes the op in its tagged wire form.
func (o PatchOp) MarshalJSON() ([]byte, error) {
	switch o.Op {
	case OpSet:
		return encodeTagged("op", o.Op, setOp{o.Path, orNull(o.Value)}, nil)
	case OpMerge:
		return encodeTagged("op", o.Op, mergeOp{o.Path, orNull(o.Object)}, nil)
	case OpAppend:
		vals := o.Values
		if vals == nil {
			vals = []json.RawMessage{}
		}
		return encodeTagged("op", o.Op, appendOp{o.Path, vals}, nil)
	case OpTombstone:
		return encodeTagged("op", o.Op, tombstoneOp{o.Path, o.Reason, o.ReplacedBy}, nil)
	case OpSetRef:
		if o.BlobRef == nil {
			return nil, errors.New("aios: set_ref op without blob_ref")
		}
		return encodeTagged("op", o.Op, setRefOp{o.Path, *o.BlobRef}, nil)
	}
	return nil, fmt.Errorf("aios: unknown patch op %q", o.Op)
}

// UnmarshalJSON reads one op, requiring the fields its kind needs.
func (o *PatchOp) UnmarshalJSON(raw []byte) error {
	var head struct {
		Op string `json:"op"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return &DecodeError{Type: "PatchOp", Err: err}
	}
	*o = PatchOp{Op: head.Op}
	var err error
	switch head.Op {
	case OpSet:
		var v setOp
		_, err = decodeObject(raw, &v, "PatchOp.set", "op")
		o.Path, o.Value = v.Path, v.Value
	case OpMerge:
		var v mergeOp
		_, err = decodeObject(raw, &v, "PatchOp.merge", "op")
		o.Path, o.Object = v.Path, v.Object
	case OpAppend:
		var v appendOp
		_, err = decodeObject(raw, &v, "PatchOp.append", "op")
		o.Path, o.Values = v.Path, v.Values
	case OpTombstone:
		var v tombstoneOp
		_, err = decodeObject(raw, &v, "PatchOp.tombstone", "op")
		o.Path, o.Reason, o.ReplacedBy = v.Path, v.Reason, v.ReplacedBy
	case OpSetRef:
		var v setRefOp
		_, err = decodeObject(raw, &v, "PatchOp.set_ref", "op")
		o.Path, o.BlobRef = v.Path, &v.BlobRef
	default:
		err = &DecodeError{Type: "PatchOp", Field: "op", Err: fmt.Errorf("unknown op %q", head.Op)}
	}
	return err
}

func orNull(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("null")
	}
	return r
}

// StatePatch is a typed, versioned change to the canonical state document.
type StatePatch struct {
	BaseVersion uint64          `json:"base_version"`
	Ops         []PatchOp       `json:"ops" aios:"default"`
	Provenance  []ProvenanceRef `json:"provenance" aios:"default"`
}

// check reports what would make MarshalJSON fail (and so the patch not
// decode again), without encoding: Validate runs it on every appended
// patch, and the encoding that follows would be done twice otherwise.
func (p StatePatch) check() error {
	for i, o := range p.Ops {
		var err error
		switch o.Op {
		case OpSet:
			err = validRaw(o.Value)
		case OpMerge:
			err = validRaw(o.Object)
		case OpAppend:
			for _, v := range o.Values {
				if v != nil && !json.Valid(v) { // elements are not written as null when empty
					err = errors.New("aios: patch value is not valid JSON")
					break
				}
			}
		case OpTombstone:
		case OpSetRef:
			if o.BlobRef == nil {
				err = errors.New("aios: set_ref op without blob_ref")
			} else {
				err = validRaw(o.BlobRef.Meta)
			}
		default:
			err = fmt.Errorf("aios: unknown patch op %q", o.Op)
		}
		if err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	for _, r := range p.Provenance {
		switch {
		case r.Kind == "event" && r.EventID == "", r.Kind == "blob" && r.BlobID == "":
			return fmt.Errorf("aios: %s provenance without its id", r.Kind)
		case r.Kind != "event" && r.Kind != "blob":
			return fmt.Errorf("aios: provenance kind %q", r.Kind)
		}
	}
	return nil
}

// validRaw is what json.Marshal asks of a json.RawMessage written through
// orNull or omitempty (empty is null or left out).
func validRaw(r json.RawMessage) error {
	if len(r) > 0 && !json.Valid(r) {
		return errors.New("aios: patch value is not valid JSON")
	}
	return nil
}

// MarshalJSON writes empty arrays as [] rather than null.
func (p StatePatch) MarshalJSON() ([]byte, error) {
	type plain StatePatch
	q := plain(p)
	if q.Ops == nil {
		q.Ops = []PatchOp{}
	}
	if q.Provenance == nil {
		q.Provenance = []ProvenanceRef{}
	}
	return json.Marshal(q)
}

// UnmarshalJSON requires base_version; missing arrays are empty.
func (p *StatePatch) UnmarshalJSON(raw []byte) error {
	type plain StatePatch
	_, err := decodeObject(raw, (*plain)(p), "StatePatch", "")
	return err
}

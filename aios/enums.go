package aios

import (
	"encoding/json"
	"fmt"
	"slices"
)

// The nested string enums of the taxonomy. Each is a bare snake_case JSON
// string; decoding rejects values outside the set, as the reference does.

// LoopPhase is a phase of the agent loop.
type LoopPhase string

const (
	PhasePerceive   LoopPhase = "perceive"
	PhaseDeliberate LoopPhase = "deliberate"
	PhaseGate       LoopPhase = "gate"
	PhaseExecute    LoopPhase = "execute"
	PhaseCommit     LoopPhase = "commit"
	PhaseReflect    LoopPhase = "reflect"
	PhaseSleep      LoopPhase = "sleep"
)

// SpanStatus is the outcome of a tool execution.
type SpanStatus string

const (
	SpanOK        SpanStatus = "ok"
	SpanError     SpanStatus = "error"
	SpanTimeout   SpanStatus = "timeout"
	SpanCancelled SpanStatus = "cancelled"
)

// RiskLevel grades how risky an action is.
type RiskLevel string

const (
	RiskLow      RiskLevel = "low"
	RiskMedium   RiskLevel = "medium"
	RiskHigh     RiskLevel = "high"
	RiskCritical RiskLevel = "critical"
)

// ApprovalDecision is a person's answer to an approval request.
type ApprovalDecision string

const (
	ApprovalApproved ApprovalDecision = "approved"
	ApprovalDenied   ApprovalDecision = "denied"
	ApprovalTimeout  ApprovalDecision = "timeout"
)

// SnapshotType says whether a snapshot is full or incremental.
type SnapshotType string

const (
	SnapshotFull        SnapshotType = "full"
	SnapshotIncremental SnapshotType = "incremental"
)

// PolicyDecisionKind is a policy verdict on a tool call.
type PolicyDecisionKind string

const (
	PolicyAllow           PolicyDecisionKind = "allow"
	PolicyDeny            PolicyDecisionKind = "deny"
	PolicyRequireApproval PolicyDecisionKind = "require_approval"
)

// SteeringMode says how a queued message affects an active run.
type SteeringMode string

const (
	SteeringCollect   SteeringMode = "collect"
	SteeringSteer     SteeringMode = "steer"
	SteeringFollowup  SteeringMode = "followup"
	SteeringInterrupt SteeringMode = "interrupt"
)

// MemoryScope is the owner of a memory.
type MemoryScope string

const (
	ScopeSession MemoryScope = "session"
	ScopeUser    MemoryScope = "user"
	ScopeAgent   MemoryScope = "agent"
	ScopeOrg     MemoryScope = "org"
)

// OperatingMode is the agent's operating mode, estimated by homeostasis.
type OperatingMode string

const (
	ModeExplore  OperatingMode = "explore"
	ModeExecute  OperatingMode = "execute"
	ModeVerify   OperatingMode = "verify"
	ModeRecover  OperatingMode = "recover"
	ModeAskHuman OperatingMode = "ask_human"
	ModeSleep    OperatingMode = "sleep"
)

// ActorType is who caused an event.
type ActorType string

const (
	ActorUser   ActorType = "user"
	ActorAgent  ActorType = "agent"
	ActorSystem ActorType = "system"
)

// EconomicMode is the agent's economic regime, decided by autonomic from its
// balance and runway. It orders from least to most restrictive.
type EconomicMode string

const (
	EconomicSovereign  EconomicMode = "sovereign"
	EconomicConserving EconomicMode = "conserving"
	EconomicHustle     EconomicMode = "hustle"
	EconomicHibernate  EconomicMode = "hibernate"
)

var (
	loopPhases        = []string{"perceive", "deliberate", "gate", "execute", "commit", "reflect", "sleep"}
	spanStatuses      = []string{"ok", "error", "timeout", "cancelled"}
	riskLevels        = []string{"low", "medium", "high", "critical"}
	approvalDecisions = []string{"approved", "denied", "timeout"}
	snapshotTypes     = []string{"full", "incremental"}
	policyDecisions   = []string{"allow", "deny", "require_approval"}
	steeringModes     = []string{"collect", "steer", "followup", "interrupt"}
	memoryScopes      = []string{"session", "user", "agent", "org"}
	operatingModes    = []string{"explore", "execute", "verify", "recover", "ask_human", "sleep"}
	actorTypes        = []string{"user", "agent", "system"}
	economicModes     = []string{"sovereign", "conserving", "hustle", "hibernate"}
)

// Valid reports whether m is one of the defined values; likewise for the
// other enums.
func (m LoopPhase) Valid() bool          { return slices.Contains(loopPhases, string(m)) }
func (m SpanStatus) Valid() bool         { return slices.Contains(spanStatuses, string(m)) }
func (m RiskLevel) Valid() bool          { return slices.Contains(riskLevels, string(m)) }
func (m ApprovalDecision) Valid() bool   { return slices.Contains(approvalDecisions, string(m)) }
func (m SnapshotType) Valid() bool       { return slices.Contains(snapshotTypes, string(m)) }
func (m PolicyDecisionKind) Valid() bool { return slices.Contains(policyDecisions, string(m)) }
func (m SteeringMode) Valid() bool       { return slices.Contains(steeringModes, string(m)) }
func (m MemoryScope) Valid() bool        { return slices.Contains(memoryScopes, string(m)) }
func (m OperatingMode) Valid() bool      { return slices.Contains(operatingModes, string(m)) }
func (m ActorType) Valid() bool          { return slices.Contains(actorTypes, string(m)) }
func (m EconomicMode) Valid() bool       { return slices.Contains(economicModes, string(m)) }

// Rank orders economic modes from least (0, sovereign) to most restrictive
// (3, hibernate); unknown modes rank as sovereign.
func (m EconomicMode) Rank() int { return max(slices.Index(economicModes, string(m)), 0) }

func decodeEnum(b []byte, name string, allowed []string) (string, error) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		// the allowed value itself: no unescaping, no allocation
		for _, a := range allowed {
			if string(b[1:len(b)-1]) == a {
				return a, nil
			}
		}
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if !slices.Contains(allowed, s) {
		return "", fmt.Errorf("%s: unknown value %q (want one of %v)", name, s, allowed)
	}
	return s, nil
}

// UnmarshalJSON rejects values outside the enum; likewise for the other enums.
func (m *LoopPhase) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "LoopPhase", loopPhases)
	*m = LoopPhase(s)
	return err
}
func (m *SpanStatus) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "SpanStatus", spanStatuses)
	*m = SpanStatus(s)
	return err
}
func (m *RiskLevel) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "RiskLevel", riskLevels)
	*m = RiskLevel(s)
	return err
}
func (m *ApprovalDecision) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "ApprovalDecision", approvalDecisions)
	*m = ApprovalDecision(s)
	return err
}
func (m *SnapshotType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "SnapshotType", snapshotTypes)
	*m = SnapshotType(s)
	return err
}
func (m *PolicyDecisionKind) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "PolicyDecisionKind", policyDecisions)
	*m = PolicyDecisionKind(s)
	return err
}
func (m *SteeringMode) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "SteeringMode", steeringModes)
	*m = SteeringMode(s)
	return err
}
func (m *MemoryScope) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "MemoryScope", memoryScopes)
	*m = MemoryScope(s)
	return err
}
func (m *OperatingMode) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "OperatingMode", operatingModes)
	*m = OperatingMode(s)
	return err
}
func (m *ActorType) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "ActorType", actorTypes)
	*m = ActorType(s)
	return err
}
func (m *EconomicMode) UnmarshalJSON(b []byte) error {
	s, err := decodeEnum(b, "EconomicMode", economicModes)
	*m = EconomicMode(s)
	return err
}

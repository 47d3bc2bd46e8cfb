// The payload kinds of the reference taxonomy (shared/conformance/TAXONOMY.md),
// in its declaration order. Field order here is the wire order: edit with care.

package aios

import "encoding/json"

// UserMessage is payload kind "UserMessage": text a person sent to the agent.
type UserMessage struct {
	Content string `json:"content"`
}

// ExternalSignal is payload kind "ExternalSignal": an outside stimulus (webhook, timer, sensor) delivered to the session.
type ExternalSignal struct {
	SignalType string          `json:"signal_type"`
	Data       json.RawMessage `json:"data"`
}

// SessionCreated is payload kind "SessionCreated": a session began, with its configuration.
type SessionCreated struct {
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config"`
}

// SessionResumed is payload kind "SessionResumed": a session was picked up again, possibly from a snapshot.
type SessionResumed struct {
	FromSnapshot string `json:"from_snapshot,omitempty"`
}

// SessionClosed is payload kind "SessionClosed": the session ended.
type SessionClosed struct {
	Reason string `json:"reason"`
}

// BranchCreated is payload kind "BranchCreated": a branch was forked at a sequence number.
type BranchCreated struct {
	NewBranchID  string `json:"new_branch_id"`
	ForkPointSeq uint64 `json:"fork_point_seq"`
	Name         string `json:"name"`
}

// BranchMerged is payload kind "BranchMerged": another branch was merged into this one.
type BranchMerged struct {
	SourceBranchID string `json:"source_branch_id"`
	MergeSeq       uint64 `json:"merge_seq"`
}

// PhaseEntered is payload kind "PhaseEntered": the agent loop moved to a new phase.
type PhaseEntered struct {
	Phase LoopPhase `json:"phase"`
}

// DeliberationProposed is payload kind "DeliberationProposed": a planning result: what the agent means to do next.
type DeliberationProposed struct {
	Summary      string `json:"summary"`
	ProposedTool string `json:"proposed_tool,omitempty"`
}

// RunStarted is payload kind "RunStarted": a model run began.
type RunStarted struct {
	Provider      string `json:"provider"`
	MaxIterations uint32 `json:"max_iterations"`
}

// RunFinished is payload kind "RunFinished": a run ended; reason is completed, tool_call, max_iterations, cancelled or error.
type RunFinished struct {
	Reason          string      `json:"reason"`
	TotalIterations uint32      `json:"total_iterations"`
	FinalAnswer     string      `json:"final_answer,omitempty"`
	Usage           *TokenUsage `json:"usage,omitempty"`
}

// RunErrored is payload kind "RunErrored": a run stopped on an error.
type RunErrored struct {
	Error string `json:"error"`
}

// StepStarted is payload kind "StepStarted": one model iteration inside a run began.
type StepStarted struct {
	Index uint32 `json:"index"`
}

// StepFinished is payload kind "StepFinished": an iteration ended, with how many directives the model emitted.
type StepFinished struct {
	Index          uint32 `json:"index"`
	StopReason     string `json:"stop_reason"`
	DirectiveCount uint64 `json:"directive_count"`
}

// AssistantTextDelta is payload kind "AssistantTextDelta": a streamed piece of assistant text.
type AssistantTextDelta struct {
	Delta string  `json:"delta"`
	Index *uint32 `json:"index,omitempty"`
}

// AssistantMessageCommitted is payload kind "AssistantMessageCommitted": the full assistant message, stored after streaming ends.
type AssistantMessageCommitted struct {
	Role       string      `json:"role"`
	Content    string      `json:"content"`
	Model      string      `json:"model,omitempty"`
	TokenUsage *TokenUsage `json:"token_usage,omitempty"`
}

// TextDelta is payload kind "TextDelta": the same as AssistantTextDelta under Lago's older name.
type TextDelta struct {
	Delta string  `json:"delta"`
	Index *uint32 `json:"index,omitempty"`
}

// Message is payload kind "Message": a chat message; Role is a free string ("user", "assistant", ...).
type Message struct {
	Role       string      `json:"role"`
	Content    string      `json:"content"`
	Model      string      `json:"model,omitempty"`
	TokenUsage *TokenUsage `json:"token_usage,omitempty"`
}

// ToolCallRequested is payload kind "ToolCallRequested": the model asked for a tool call.
type ToolCallRequested struct {
	CallID    string          `json:"call_id"`
	ToolName  string          `json:"tool_name"`
	Arguments json.RawMessage `json:"arguments"`
	Category  string          `json:"category,omitempty"`
}

// ToolCallStarted is payload kind "ToolCallStarted": tool execution began, identified by ToolRunID.
type ToolCallStarted struct {
	ToolRunID string `json:"tool_run_id"`
	ToolName  string `json:"tool_name"`
}

// ToolCallCompleted is payload kind "ToolCallCompleted": tool execution ended.
type ToolCallCompleted struct {
	ToolRunID  string          `json:"tool_run_id"`
	CallID     string          `json:"call_id,omitempty"`
	ToolName   string          `json:"tool_name"`
	Result     json.RawMessage `json:"result"`
	DurationMs uint64          `json:"duration_ms"`
	Status     SpanStatus      `json:"status"`
}

// ToolCallFailed is payload kind "ToolCallFailed": a tool call failed or could not run.
type ToolCallFailed struct {
	CallID   string `json:"call_id"`
	ToolName string `json:"tool_name"`
	Error    string `json:"error"`
}

// KnowledgeSearched is payload kind "KnowledgeSearched": the knowledge graph was searched.
type KnowledgeSearched struct {
	Query        string  `json:"query"`
	ResultCount  uint32  `json:"result_count"`
	TopRelevance Float64 `json:"top_relevance"`
	DurationMs   uint64  `json:"duration_ms"`
}

// KnowledgeRetrieved is payload kind "KnowledgeRetrieved": knowledge notes were put into the prompt.
type KnowledgeRetrieved struct {
	NoteCount     uint32 `json:"note_count"`
	ContextTokens uint32 `json:"context_tokens"`
	Source        string `json:"source"`
}

// KnowledgeEvaluated is payload kind "KnowledgeEvaluated": the knowledge index was checked for quality.
type KnowledgeEvaluated struct {
	HealthScore    Float32 `json:"health_score"`
	NoteCount      uint32  `json:"note_count"`
	Contradictions uint32  `json:"contradictions"`
	MissingPages   uint32  `json:"missing_pages"`
	Orphans        uint32  `json:"orphans"`
}

// FileWrite is payload kind "FileWrite": a file was written; its bytes are kept as a blob.
type FileWrite struct {
	Path        string `json:"path"`
	BlobHash    string `json:"blob_hash"`
	SizeBytes   uint64 `json:"size_bytes"`
	ContentType string `json:"content_type,omitempty"`
}

// FileDelete is payload kind "FileDelete": a file was deleted.
type FileDelete struct {
	Path string `json:"path"`
}

// FileRename is payload kind "FileRename": a file was moved.
type FileRename struct {
	OldPath string `json:"old_path"`
	NewPath string `json:"new_path"`
}

// FileMutated is payload kind "FileMutated": a tool changed a workspace file; ContentHash is the hex hash of the new bytes, or "deleted".
type FileMutated struct {
	Path        string `json:"path"`
	ContentHash string `json:"content_hash"`
}

// StatePatchCommitted is payload kind "StatePatchCommitted": a typed patch was applied to the canonical state; NewVersion is the version after it.
type StatePatchCommitted struct {
	NewVersion uint64     `json:"new_version"`
	Patch      StatePatch `json:"patch"`
}

// StatePatched is payload kind "StatePatched": arcan's form of a state change: an opaque patch, usually {format, patch, source}.
type StatePatched struct {
	Index    *uint32         `json:"index,omitempty"`
	Patch    json.RawMessage `json:"patch"`
	Revision uint64          `json:"revision"`
}

// ContextCompacted is payload kind "ContextCompacted": the context window was shrunk.
type ContextCompacted struct {
	DroppedCount uint64 `json:"dropped_count"`
	TokensBefore uint64 `json:"tokens_before"`
	TokensAfter  uint64 `json:"tokens_after"`
}

// PolicyEvaluated is payload kind "PolicyEvaluated": the policy's verdict on a tool call.
type PolicyEvaluated struct {
	ToolName    string             `json:"tool_name"`
	Decision    PolicyDecisionKind `json:"decision"`
	RuleID      string             `json:"rule_id,omitempty"`
	Explanation string             `json:"explanation,omitempty"`
}

// ApprovalRequested is payload kind "ApprovalRequested": a person was asked to approve a call.
type ApprovalRequested struct {
	ApprovalID string          `json:"approval_id"`
	CallID     string          `json:"call_id"`
	ToolName   string          `json:"tool_name"`
	Arguments  json.RawMessage `json:"arguments"`
	Risk       RiskLevel       `json:"risk"`
}

// ApprovalResolved is payload kind "ApprovalResolved": the answer to an approval request.
type ApprovalResolved struct {
	ApprovalID string           `json:"approval_id"`
	Decision   ApprovalDecision `json:"decision"`
	Reason     string           `json:"reason,omitempty"`
}

// SnapshotCreated is payload kind "SnapshotCreated": a journal snapshot was taken for faster replay.
type SnapshotCreated struct {
	SnapshotID       string       `json:"snapshot_id"`
	SnapshotType     SnapshotType `json:"snapshot_type"`
	CoversThroughSeq uint64       `json:"covers_through_seq"`
	DataHash         string       `json:"data_hash"`
}

// SandboxCreated is payload kind "SandboxCreated": a sandbox was set up; Tier is free text.
type SandboxCreated struct {
	SandboxID string          `json:"sandbox_id"`
	Tier      string          `json:"tier"`
	Config    json.RawMessage `json:"config"`
}

// SandboxExecuted is payload kind "SandboxExecuted": a command ran in the sandbox.
type SandboxExecuted struct {
	SandboxID  string `json:"sandbox_id"`
	Command    string `json:"command"`
	ExitCode   int32  `json:"exit_code"`
	DurationMs uint64 `json:"duration_ms"`
}

// SandboxViolation is payload kind "SandboxViolation": the sandbox blocked a forbidden action.
type SandboxViolation struct {
	SandboxID     string `json:"sandbox_id"`
	ViolationType string `json:"violation_type"`
	Details       string `json:"details"`
}

// SandboxDestroyed is payload kind "SandboxDestroyed": the sandbox was torn down.
type SandboxDestroyed struct {
	SandboxID string `json:"sandbox_id"`
}

// ObservationAppended is payload kind "ObservationAppended": a raw observation was added to memory.
type ObservationAppended struct {
	Scope          MemoryScope `json:"scope"`
	ObservationRef string      `json:"observation_ref"`
	SourceRunID    string      `json:"source_run_id,omitempty"`
}

// ReflectionCompacted is payload kind "ReflectionCompacted": observations were condensed into a summary.
type ReflectionCompacted struct {
	Scope            MemoryScope `json:"scope"`
	SummaryRef       string      `json:"summary_ref"`
	CoversThroughSeq uint64      `json:"covers_through_seq"`
}

// MemoryProposed is payload kind "MemoryProposed": memory entries were proposed, not yet committed.
type MemoryProposed struct {
	Scope       MemoryScope `json:"scope"`
	ProposalID  string      `json:"proposal_id"`
	EntriesRef  string      `json:"entries_ref"`
	SourceRunID string      `json:"source_run_id,omitempty"`
}

// MemoryCommitted is payload kind "MemoryCommitted": a memory was committed, possibly replacing an older one.
type MemoryCommitted struct {
	Scope        MemoryScope `json:"scope"`
	MemoryID     string      `json:"memory_id"`
	CommittedRef string      `json:"committed_ref"`
	Supersedes   string      `json:"supersedes,omitempty"`
}

// MemoryTombstoned is payload kind "MemoryTombstoned": a memory was forgotten (hidden, not erased).
type MemoryTombstoned struct {
	Scope    MemoryScope `json:"scope"`
	MemoryID string      `json:"memory_id"`
	Reason   string      `json:"reason"`
}

// Heartbeat is payload kind "Heartbeat": the end of a homeostasis tick.
type Heartbeat struct {
	Summary      string `json:"summary"`
	CheckpointID string `json:"checkpoint_id,omitempty"`
}

// StateEstimated is payload kind "StateEstimated": the controller's estimate of the agent's health and mode.
type StateEstimated struct {
	State AgentStateVector `json:"state"`
	Mode  OperatingMode    `json:"mode"`
}

// BudgetUpdated is payload kind "BudgetUpdated": the remaining resource budgets were recounted.
type BudgetUpdated struct {
	Budget BudgetState `json:"budget"`
	Reason string      `json:"reason"`
}

// ModeChanged is payload kind "ModeChanged": the operating mode changed.
type ModeChanged struct {
	From   OperatingMode `json:"from"`
	To     OperatingMode `json:"to"`
	Reason string        `json:"reason"`
}

// GatesUpdated is payload kind "GatesUpdated": the dynamic limits changed.
type GatesUpdated struct {
	Gates  json.RawMessage `json:"gates"`
	Reason string          `json:"reason"`
}

// CircuitBreakerTripped is payload kind "CircuitBreakerTripped": work was halted after repeated errors.
type CircuitBreakerTripped struct {
	Reason      string `json:"reason"`
	ErrorStreak uint32 `json:"error_streak"`
}

// CheckpointCreated is payload kind "CheckpointCreated": the runtime saved a checkpoint.
type CheckpointCreated struct {
	CheckpointID  string `json:"checkpoint_id"`
	EventSequence uint64 `json:"event_sequence"`
	StateHash     string `json:"state_hash"`
}

// CheckpointRestored is payload kind "CheckpointRestored": the state was rolled back to a checkpoint.
type CheckpointRestored struct {
	CheckpointID  string `json:"checkpoint_id"`
	RestoredToSeq uint64 `json:"restored_to_seq"`
}

// VoiceSessionStarted is payload kind "VoiceSessionStarted": a realtime voice stream opened.
type VoiceSessionStarted struct {
	VoiceSessionID string `json:"voice_session_id"`
	Adapter        string `json:"adapter"`
	Model          string `json:"model"`
	SampleRateHz   uint32 `json:"sample_rate_hz"`
	Channels       uint8  `json:"channels"`
}

// VoiceInputChunk is payload kind "VoiceInputChunk": an audio chunk came in; Bytes is its length.
type VoiceInputChunk struct {
	VoiceSessionID string `json:"voice_session_id"`
	ChunkIndex     uint64 `json:"chunk_index"`
	Bytes          uint64 `json:"bytes"`
	Format         string `json:"format"`
}

// VoiceOutputChunk is payload kind "VoiceOutputChunk": an audio chunk went out; Bytes is its length.
type VoiceOutputChunk struct {
	VoiceSessionID string `json:"voice_session_id"`
	ChunkIndex     uint64 `json:"chunk_index"`
	Bytes          uint64 `json:"bytes"`
	Format         string `json:"format"`
}

// VoiceSessionStopped is payload kind "VoiceSessionStopped": the voice stream closed.
type VoiceSessionStopped struct {
	VoiceSessionID string `json:"voice_session_id"`
	Reason         string `json:"reason"`
}

// VoiceAdapterError is payload kind "VoiceAdapterError": the voice provider reported an error.
type VoiceAdapterError struct {
	VoiceSessionID string `json:"voice_session_id"`
	Message        string `json:"message"`
}

// WorldModelObserved is payload kind "WorldModelObserved": a world-model state was recorded.
type WorldModelObserved struct {
	StateRef string          `json:"state_ref"`
	Meta     json.RawMessage `json:"meta"`
}

// WorldModelRollout is payload kind "WorldModelRollout": a simulated trajectory was recorded, possibly with a score.
type WorldModelRollout struct {
	TrajectoryRef string   `json:"trajectory_ref"`
	Score         *Float32 `json:"score,omitempty"`
}

// IntentProposed is payload kind "IntentProposed": the agent declared an intended action.
type IntentProposed struct {
	IntentID string    `json:"intent_id"`
	Kind     string    `json:"kind"`
	Risk     RiskLevel `json:"risk,omitempty"`
}

// IntentEvaluated is payload kind "IntentEvaluated": the intent was checked against policy.
type IntentEvaluated struct {
	IntentID         string  `json:"intent_id"`
	Allowed          bool    `json:"allowed"`
	RequiresApproval bool    `json:"requires_approval"`
	Reasons          Strings `json:"reasons" aios:"default"`
}

// IntentApproved is payload kind "IntentApproved": the intent was approved, possibly naming who approved it.
type IntentApproved struct {
	IntentID string `json:"intent_id"`
	Actor    string `json:"actor,omitempty"`
}

// IntentRejected is payload kind "IntentRejected": the intent was refused.
type IntentRejected struct {
	IntentID string  `json:"intent_id"`
	Reasons  Strings `json:"reasons" aios:"default"`
}

// HiveTaskCreated is payload kind "HiveTaskCreated": a multi-agent evolution task began.
type HiveTaskCreated struct {
	HiveTaskID string `json:"hive_task_id"`
	Objective  string `json:"objective"`
	AgentCount uint32 `json:"agent_count"`
}

// HiveArtifactShared is payload kind "HiveArtifactShared": one agent shared a scored attempt.
type HiveArtifactShared struct {
	HiveTaskID      string  `json:"hive_task_id"`
	SourceSessionID string  `json:"source_session_id"`
	Score           Float32 `json:"score"`
	MutationSummary string  `json:"mutation_summary"`
}

// HiveSelectionMade is payload kind "HiveSelectionMade": the best attempt of a generation was picked.
type HiveSelectionMade struct {
	HiveTaskID       string  `json:"hive_task_id"`
	WinningSessionID string  `json:"winning_session_id"`
	WinningScore     Float32 `json:"winning_score"`
	Generation       uint32  `json:"generation"`
}

// HiveGenerationCompleted is payload kind "HiveGenerationCompleted": a generation finished.
type HiveGenerationCompleted struct {
	HiveTaskID   string          `json:"hive_task_id"`
	Generation   uint32          `json:"generation"`
	BestScore    Float32         `json:"best_score"`
	AgentResults json.RawMessage `json:"agent_results"`
}

// HiveTaskCompleted is payload kind "HiveTaskCompleted": the hive task finished.
type HiveTaskCompleted struct {
	HiveTaskID       string  `json:"hive_task_id"`
	TotalGenerations uint32  `json:"total_generations"`
	TotalTrials      uint32  `json:"total_trials"`
	FinalScore       Float32 `json:"final_score"`
}

// Queued is payload kind "Queued": a user message was queued while a run was active.
type Queued struct {
	QueueID string       `json:"queue_id"`
	Mode    SteeringMode `json:"mode"`
	Message string       `json:"message"`
}

// Steered is payload kind "Steered": a queued message redirected the run at a tool boundary.
type Steered struct {
	QueueID     string `json:"queue_id"`
	PreemptedAt string `json:"preempted_at"`
}

// QueueDrained is payload kind "QueueDrained": the queued messages were handled.
type QueueDrained struct {
	QueueID   string `json:"queue_id"`
	Processed uint64 `json:"processed"`
}

// ErrorRaised is payload kind "ErrorRaised": a generic error report.
type ErrorRaised struct {
	Message string `json:"message"`
}

// Type returns "UserMessage".
func (*UserMessage) Type() string { return "UserMessage" }

// Type returns "ExternalSignal".
func (*ExternalSignal) Type() string { return "ExternalSignal" }

// Type returns "SessionCreated".
func (*SessionCreated) Type() string { return "SessionCreated" }

// Type returns "SessionResumed".
func (*SessionResumed) Type() string { return "SessionResumed" }

// Type returns "SessionClosed".
func (*SessionClosed) Type() string { return "SessionClosed" }

// Type returns "BranchCreated".
func (*BranchCreated) Type() string { return "BranchCreated" }

// Type returns "BranchMerged".
func (*BranchMerged) Type() string { return "BranchMerged" }

// Type returns "PhaseEntered".
func (*PhaseEntered) Type() string { return "PhaseEntered" }

// Type returns "DeliberationProposed".
func (*DeliberationProposed) Type() string { return "DeliberationProposed" }

// Type returns "RunStarted".
func (*RunStarted) Type() string { return "RunStarted" }

// Type returns "RunFinished".
func (*RunFinished) Type() string { return "RunFinished" }

// Type returns "RunErrored".
func (*RunErrored) Type() string { return "RunErrored" }

// Type returns "StepStarted".
func (*StepStarted) Type() string { return "StepStarted" }

// Type returns "StepFinished".
func (*StepFinished) Type() string { return "StepFinished" }

// Type returns "AssistantTextDelta".
func (*AssistantTextDelta) Type() string { return "AssistantTextDelta" }

// Type returns "AssistantMessageCommitted".
func (*AssistantMessageCommitted) Type() string { return "AssistantMessageCommitted" }

// Type returns "TextDelta".
func (*TextDelta) Type() string { return "TextDelta" }

// Type returns "Message".
func (*Message) Type() string { return "Message" }

// Type returns "ToolCallRequested".
func (*ToolCallRequested) Type() string { return "ToolCallRequested" }

// Type returns "ToolCallStarted".
func (*ToolCallStarted) Type() string { return "ToolCallStarted" }

// Type returns "ToolCallCompleted".
func (*ToolCallCompleted) Type() string { return "ToolCallCompleted" }

// Type returns "ToolCallFailed".
func (*ToolCallFailed) Type() string { return "ToolCallFailed" }

// Type returns "KnowledgeSearched".
func (*KnowledgeSearched) Type() string { return "KnowledgeSearched" }

// Type returns "KnowledgeRetrieved".
func (*KnowledgeRetrieved) Type() string { return "KnowledgeRetrieved" }

// Type returns "KnowledgeEvaluated".
func (*KnowledgeEvaluated) Type() string { return "KnowledgeEvaluated" }

// Type returns "FileWrite".
func (*FileWrite) Type() string { return "FileWrite" }

// Type returns "FileDelete".
func (*FileDelete) Type() string { return "FileDelete" }

// Type returns "FileRename".
func (*FileRename) Type() string { return "FileRename" }

// Type returns "FileMutated".
func (*FileMutated) Type() string { return "FileMutated" }

// Type returns "StatePatchCommitted".
func (*StatePatchCommitted) Type() string { return "StatePatchCommitted" }

// Type returns "StatePatched".
func (*StatePatched) Type() string { return "StatePatched" }

// Type returns "ContextCompacted".
func (*ContextCompacted) Type() string { return "ContextCompacted" }

// Type returns "PolicyEvaluated".
func (*PolicyEvaluated) Type() string { return "PolicyEvaluated" }

// Type returns "ApprovalRequested".
func (*ApprovalRequested) Type() string { return "ApprovalRequested" }

// Type returns "ApprovalResolved".
func (*ApprovalResolved) Type() string { return "ApprovalResolved" }

// Type returns "SnapshotCreated".
func (*SnapshotCreated) Type() string { return "SnapshotCreated" }

// Type returns "SandboxCreated".
func (*SandboxCreated) Type() string { return "SandboxCreated" }

// Type returns "SandboxExecuted".
func (*SandboxExecuted) Type() string { return "SandboxExecuted" }

// Type returns "SandboxViolation".
func (*SandboxViolation) Type() string { return "SandboxViolation" }

// Type returns "SandboxDestroyed".
func (*SandboxDestroyed) Type() string { return "SandboxDestroyed" }

// Type returns "ObservationAppended".
func (*ObservationAppended) Type() string { return "ObservationAppended" }

// Type returns "ReflectionCompacted".
func (*ReflectionCompacted) Type() string { return "ReflectionCompacted" }

// Type returns "MemoryProposed".
func (*MemoryProposed) Type() string { return "MemoryProposed" }

// Type returns "MemoryCommitted".
func (*MemoryCommitted) Type() string { return "MemoryCommitted" }

// Type returns "MemoryTombstoned".
func (*MemoryTombstoned) Type() string { return "MemoryTombstoned" }

// Type returns "Heartbeat".
func (*Heartbeat) Type() string { return "Heartbeat" }

// Type returns "StateEstimated".
func (*StateEstimated) Type() string { return "StateEstimated" }

// Type returns "BudgetUpdated".
func (*BudgetUpdated) Type() string { return "BudgetUpdated" }

// Type returns "ModeChanged".
func (*ModeChanged) Type() string { return "ModeChanged" }

// Type returns "GatesUpdated".
func (*GatesUpdated) Type() string { return "GatesUpdated" }

// Type returns "CircuitBreakerTripped".
func (*CircuitBreakerTripped) Type() string { return "CircuitBreakerTripped" }

// Type returns "CheckpointCreated".
func (*CheckpointCreated) Type() string { return "CheckpointCreated" }

// Type returns "CheckpointRestored".
func (*CheckpointRestored) Type() string { return "CheckpointRestored" }

// Type returns "VoiceSessionStarted".
func (*VoiceSessionStarted) Type() string { return "VoiceSessionStarted" }

// Type returns "VoiceInputChunk".
func (*VoiceInputChunk) Type() string { return "VoiceInputChunk" }

// Type returns "VoiceOutputChunk".
func (*VoiceOutputChunk) Type() string { return "VoiceOutputChunk" }

// Type returns "VoiceSessionStopped".
func (*VoiceSessionStopped) Type() string { return "VoiceSessionStopped" }

// Type returns "VoiceAdapterError".
func (*VoiceAdapterError) Type() string { return "VoiceAdapterError" }

// Type returns "WorldModelObserved".
func (*WorldModelObserved) Type() string { return "WorldModelObserved" }

// Type returns "WorldModelRollout".
func (*WorldModelRollout) Type() string { return "WorldModelRollout" }

// Type returns "IntentProposed".
func (*IntentProposed) Type() string { return "IntentProposed" }

// Type returns "IntentEvaluated".
func (*IntentEvaluated) Type() string { return "IntentEvaluated" }

// Type returns "IntentApproved".
func (*IntentApproved) Type() string { return "IntentApproved" }

// Type returns "IntentRejected".
func (*IntentRejected) Type() string { return "IntentRejected" }

// Type returns "HiveTaskCreated".
func (*HiveTaskCreated) Type() string { return "HiveTaskCreated" }

// Type returns "HiveArtifactShared".
func (*HiveArtifactShared) Type() string { return "HiveArtifactShared" }

// Type returns "HiveSelectionMade".
func (*HiveSelectionMade) Type() string { return "HiveSelectionMade" }

// Type returns "HiveGenerationCompleted".
func (*HiveGenerationCompleted) Type() string { return "HiveGenerationCompleted" }

// Type returns "HiveTaskCompleted".
func (*HiveTaskCompleted) Type() string { return "HiveTaskCompleted" }

// Type returns "Queued".
func (*Queued) Type() string { return "Queued" }

// Type returns "Steered".
func (*Steered) Type() string { return "Steered" }

// Type returns "QueueDrained".
func (*QueueDrained) Type() string { return "QueueDrained" }

// Type returns "ErrorRaised".
func (*ErrorRaised) Type() string { return "ErrorRaised" }

// newKnownPayload returns a fresh value of the kind named t, or nil.
func newKnownPayload(t string) Payload {
	switch t {
	case "UserMessage":
		return new(UserMessage)
	case "ExternalSignal":
		return new(ExternalSignal)
	case "SessionCreated":
		return new(SessionCreated)
	case "SessionResumed":
		return new(SessionResumed)
	case "SessionClosed":
		return new(SessionClosed)
	case "BranchCreated":
		return new(BranchCreated)
	case "BranchMerged":
		return new(BranchMerged)
	case "PhaseEntered":
		return new(PhaseEntered)
	case "DeliberationProposed":
		return new(DeliberationProposed)
	case "RunStarted":
		return new(RunStarted)
	case "RunFinished":
		return new(RunFinished)
	case "RunErrored":
		return new(RunErrored)
	case "StepStarted":
		return new(StepStarted)
	case "StepFinished":
		return new(StepFinished)
	case "AssistantTextDelta":
		return new(AssistantTextDelta)
	case "AssistantMessageCommitted":
		return new(AssistantMessageCommitted)
	case "TextDelta":
		return new(TextDelta)
	case "Message":
		return new(Message)
	case "ToolCallRequested":
		return new(ToolCallRequested)
	case "ToolCallStarted":
		return new(ToolCallStarted)
	case "ToolCallCompleted":
		return new(ToolCallCompleted)
	case "ToolCallFailed":
		return new(ToolCallFailed)
	case "KnowledgeSearched":
		return new(KnowledgeSearched)
	case "KnowledgeRetrieved":
		return new(KnowledgeRetrieved)
	case "KnowledgeEvaluated":
		return new(KnowledgeEvaluated)
	case "FileWrite":
		return new(FileWrite)
	case "FileDelete":
		return new(FileDelete)
	case "FileRename":
		return new(FileRename)
	case "FileMutated":
		return new(FileMutated)
	case "StatePatchCommitted":
		return new(StatePatchCommitted)
	case "StatePatched":
		return new(StatePatched)
	case "ContextCompacted":
		return new(ContextCompacted)
	case "PolicyEvaluated":
		return new(PolicyEvaluated)
	case "ApprovalRequested":
		return new(ApprovalRequested)
	case "ApprovalResolved":
		return new(ApprovalResolved)
	case "SnapshotCreated":
		return new(SnapshotCreated)
	case "SandboxCreated":
		return new(SandboxCreated)
	case "SandboxExecuted":
		return new(SandboxExecuted)
	case "SandboxViolation":
		return new(SandboxViolation)
	case "SandboxDestroyed":
		return new(SandboxDestroyed)
	case "ObservationAppended":
		return new(ObservationAppended)
	case "ReflectionCompacted":
		return new(ReflectionCompacted)
	case "MemoryProposed":
		return new(MemoryProposed)
	case "MemoryCommitted":
		return new(MemoryCommitted)
	case "MemoryTombstoned":
		return new(MemoryTombstoned)
	case "Heartbeat":
		return new(Heartbeat)
	case "StateEstimated":
		return new(StateEstimated)
	case "BudgetUpdated":
		return new(BudgetUpdated)
	case "ModeChanged":
		return new(ModeChanged)
	case "GatesUpdated":
		return new(GatesUpdated)
	case "CircuitBreakerTripped":
		return new(CircuitBreakerTripped)
	case "CheckpointCreated":
		return new(CheckpointCreated)
	case "CheckpointRestored":
		return new(CheckpointRestored)
	case "VoiceSessionStarted":
		return new(VoiceSessionStarted)
	case "VoiceInputChunk":
		return new(VoiceInputChunk)
	case "VoiceOutputChunk":
		return new(VoiceOutputChunk)
	case "VoiceSessionStopped":
		return new(VoiceSessionStopped)
	case "VoiceAdapterError":
		return new(VoiceAdapterError)
	case "WorldModelObserved":
		return new(WorldModelObserved)
	case "WorldModelRollout":
		return new(WorldModelRollout)
	case "IntentProposed":
		return new(IntentProposed)
	case "IntentEvaluated":
		return new(IntentEvaluated)
	case "IntentApproved":
		return new(IntentApproved)
	case "IntentRejected":
		return new(IntentRejected)
	case "HiveTaskCreated":
		return new(HiveTaskCreated)
	case "HiveArtifactShared":
		return new(HiveArtifactShared)
	case "HiveSelectionMade":
		return new(HiveSelectionMade)
	case "HiveGenerationCompleted":
		return new(HiveGenerationCompleted)
	case "HiveTaskCompleted":
		return new(HiveTaskCompleted)
	case "Queued":
		return new(Queued)
	case "Steered":
		return new(Steered)
	case "QueueDrained":
		return new(QueueDrained)
	case "ErrorRaised":
		return new(ErrorRaised)
	}
	return nil
}

// KnownTypes lists the payload kinds of the taxonomy in declaration order, Custom last.
func KnownTypes() []string {
	return []string{
		"UserMessage",
		"ExternalSignal",
		"SessionCreated",
		"SessionResumed",
		"SessionClosed",
		"BranchCreated",
		"BranchMerged",
		"PhaseEntered",
		"DeliberationProposed",
		"RunStarted",
		"RunFinished",
		"RunErrored",
		"StepStarted",
		"StepFinished",
		"AssistantTextDelta",
		"AssistantMessageCommitted",
		"TextDelta",
		"Message",
		"ToolCallRequested",
		"ToolCallStarted",
		"ToolCallCompleted",
		"ToolCallFailed",
		"KnowledgeSearched",
		"KnowledgeRetrieved",
		"KnowledgeEvaluated",
		"FileWrite",
		"FileDelete",
		"FileRename",
		"FileMutated",
		"StatePatchCommitted",
		"StatePatched",
		"ContextCompacted",
		"PolicyEvaluated",
		"ApprovalRequested",
		"ApprovalResolved",
		"SnapshotCreated",
		"SandboxCreated",
		"SandboxExecuted",
		"SandboxViolation",
		"SandboxDestroyed",
		"ObservationAppended",
		"ReflectionCompacted",
		"MemoryProposed",
		"MemoryCommitted",
		"MemoryTombstoned",
		"Heartbeat",
		"StateEstimated",
		"BudgetUpdated",
		"ModeChanged",
		"GatesUpdated",
		"CircuitBreakerTripped",
		"CheckpointCreated",
		"CheckpointRestored",
		"VoiceSessionStarted",
		"VoiceInputChunk",
		"VoiceOutputChunk",
		"VoiceSessionStopped",
		"VoiceAdapterError",
		"WorldModelObserved",
		"WorldModelRollout",
		"IntentProposed",
		"IntentEvaluated",
		"IntentApproved",
		"IntentRejected",
		"HiveTaskCreated",
		"HiveArtifactShared",
		"HiveSelectionMade",
		"HiveGenerationCompleted",
		"HiveTaskCompleted",
		"Queued",
		"Steered",
		"QueueDrained",
		"ErrorRaised",
		"Custom",
	}
}

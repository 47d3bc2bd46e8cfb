package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lifeos/life/aios"
)

// Run statuses, as kept in [RunState.Status].
const (
	RunRunning          = "running"
	RunAwaitingApproval = "awaiting_approval"
	RunFinishedStatus   = "finished"
	RunErroredStatus    = "errored"
)

// Tool call statuses, as kept in [CallState.Status].
const (
	CallRequested        = "requested"
	CallAwaitingApproval = "awaiting_approval"
	CallApproved         = "approved"
	CallStarted          = "started"
	CallDone             = "done"
	CallFailed           = "failed"
)

// MetaCallID is the envelope metadata key that ties a ToolCallStarted event
// (which has no call_id field in the taxonomy) to its call.
const MetaCallID = "call_id"

// MetaIdempotencyKey and MetaRequestHash, on a RunStarted event, hold the
// idempotency key a client started the run with and a fingerprint of its
// request (a repeat with the key must be the same request). In metadata,
// so the payload stays the taxonomy's.
const (
	MetaIdempotencyKey = "idempotency_key"
	MetaRequestHash    = "idempotency_request_hash"
)

// maxKeyedRuns bounds the keyed runs a stream's state remembers: a key
// older than the most recent maxKeyedRuns keyed runs of its stream is
// forgotten (the draft standard lets keys expire).
const maxKeyedRuns = 256

// MetaUsageEstimated marks an AssistantMessageCommitted whose token usage
// the runtime estimated because the provider reported none (only when a
// token or cost budget needs it).
const MetaUsageEstimated = "usage_estimated"

// SessionState is everything the runtime knows about one stream, folded
// from its events alone. The live runtime and a replay build it with the
// same [SessionState.Apply], so both produce the same JSON.
type SessionState struct {
	Session   string             `json:"session"`
	Branch    string             `json:"branch"`
	Name      string             `json:"name,omitempty"`
	LastSeq   uint64             `json:"last_seq"`
	Messages  []aios.ChatMessage `json:"messages"`
	Runs      uint32             `json:"runs"`
	Run       *RunState          `json:"run,omitempty"`
	Calls     []CallState        `json:"calls,omitempty"`
	Approvals []Approval         `json:"approvals,omitempty"`
	Usage     aios.TokenUsage    `json:"usage"`
	Version   uint64             `json:"version"`
	Doc       json.RawMessage    `json:"doc"` // current after Encode, Clone or Document
	Closed    bool               `json:"closed,omitempty"`
	// PatchConflicts counts the state patches the fold rejected: each was
	// based on a version another writer's patch had already replaced.
	PatchConflicts uint64 `json:"patch_conflicts,omitempty"`
	// Keyed are the runs started with an idempotency key, oldest first, at
	// most maxKeyedRuns: what a repeated request is answered from.
	Keyed []KeyedRun `json:"keyed,omitempty"`

	doc      any  // Doc decoded, kept so each patch does not re-parse it
	docReady bool // doc holds the document (nil is a valid one: JSON null)
	docDirty bool // doc is newer than Doc
	// sets are folded "set" ops not yet applied to doc: each run sets the
	// same paths again, so decoding a value only when the document is
	// read spares a turn most of its patch cost. See deferSets.
	sets []pendingSet
}

// pendingSet is a deferred set op: valid JSON at a path whose parents are
// objects (or missing) in doc, and disjoint from every other pending path.
type pendingSet struct {
	path  string
	value json.RawMessage
}

// RunState describes the latest run of a stream.
type RunState struct {
	ID          string          `json:"id"`
	Status      string          `json:"status"`
	Provider    string          `json:"provider"`
	StartedAt   uint64          `json:"started_at"`
	Iterations  uint32          `json:"iterations"`
	ToolCalls   uint32          `json:"tool_calls"`
	Usage       aios.TokenUsage `json:"usage"`
	Reason      string          `json:"reason,omitempty"`
	FinalAnswer string          `json:"final_answer,omitempty"`
}

// CallState tracks one tool call of the latest assistant message.
type CallState struct {
	CallID     string          `json:"call_id"`
	ToolName   string          `json:"tool_name"`
	Arguments  json.RawMessage `json:"arguments"`
	Status     string          `json:"status"`
	ApprovalID string          `json:"approval_id,omitempty"`
	ToolRunID  string          `json:"tool_run_id,omitempty"`
	// Inherited marks a call requested on an ancestor branch, before this
	// one was forked: the ancestor may run it (or have run it), so this
	// branch never does (see continueRun).
	Inherited bool `json:"inherited,omitempty"`
}

// KeyedRun is a run started with an idempotency key.
type KeyedRun struct {
	Key         string `json:"key"`
	RequestHash string `json:"request_hash,omitempty"`
	RunID       string `json:"run_id"`
	// End is the run as it ended, once it has: the run a repeat names may
	// no longer be the stream's latest.
	End *RunState `json:"end,omitempty"`
}

// keyed returns the keyed run of key, nil if there is none.
func (s *SessionState) keyed(key string) *KeyedRun {
	for i := len(s.Keyed) - 1; i >= 0; i-- {
		if s.Keyed[i].Key == key {
			return &s.Keyed[i]
		}
	}
	return nil
}

// Approval is a pending request for a person to allow a tool call.
type Approval struct {
	ApprovalID string          `json:"approval_id"`
	RunID      string          `json:"run_id"`
	CallID     string          `json:"call_id"`
	ToolName   string          `json:"tool_name"`
	Arguments  json.RawMessage `json:"arguments"`
	Risk       aios.RiskLevel  `json:"risk"`
}

// NewSessionState returns the empty state of a stream.
func NewSessionState(stream aios.StreamID) *SessionState {
	return &SessionState{Session: stream.Session, Branch: stream.Branch, Messages: []aios.ChatMessage{}, Doc: json.RawMessage("{}")}
}

// Clone returns a deep copy, safe to hand to another goroutine.
func (s *SessionState) Clone() *SessionState {
	raw, err := s.Encode()
	if err != nil {
		panic(fmt.Sprintf("runtime: state does not encode: %v", err)) // only JSON-safe values are stored
	}
	var c SessionState
	if err := json.Unmarshal(raw, &c); err != nil {
		panic(fmt.Sprintf("runtime: state does not decode: %v", err))
	}
	return &c
}

// Document returns the canonical state document as JSON.
func (s *SessionState) Document() json.RawMessage {
	if err := s.applySets(); err != nil {
		// deferSets admits only ops that cannot fail (valid JSON, parents
		// that are objects, disjoint paths): this is a bug, not bad input.
		panic(fmt.Sprintf("runtime: deferred state patch: %v", err))
	}
	if s.docDirty {
		// The document holds only decoded JSON values: it always encodes.
		raw, _ := json.Marshal(s.doc)
		s.Doc, s.docDirty = raw, false
	}
	return s.Doc
}

// MarshalJSON writes the state with its document current.
func (s *SessionState) MarshalJSON() ([]byte, error) {
	s.Document()
	type plain SessionState
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode((*plain)(s)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Encode is the state's compact JSON, without HTML escaping, so that
// tool arguments keep the exact bytes the journal holds.
func (s *SessionState) Encode() ([]byte, error) { return s.MarshalJSON() }

// Apply folds one event into the state. It fails only on a state patch
// whose ops do not apply; every other event is accepted (unknown kinds are
// counted and ignored). Writers on one stream are not serialised beyond the
// journal's order, so two patches may be based on the same version: the
// first in the journal wins, and a later one is rejected (counted in
// PatchConflicts, the document unchanged), alike in the live fold and in a
// replay. The runtime re-bases its own rejected patches (batch.flush).
func (s *SessionState) Apply(e aios.EventEnvelope) error {
	if e.Seq > s.LastSeq {
		s.LastSeq = e.Seq
	}
	switch p := e.Payload.(type) {
	case *aios.SessionCreated:
		s.Name = p.Name
	case *aios.SessionClosed:
		s.Closed = true
	case *aios.UserMessage:
		s.Messages = append(s.Messages, aios.ChatMessage{Role: aios.RoleUser, Content: p.Content})
	case *aios.Message:
		role := aios.ChatRole(p.Role)
		switch role {
		case aios.RoleUser, aios.RoleSystem:
			s.Messages = append(s.Messages, aios.ChatMessage{Role: role, Content: p.Content})
		case aios.RoleAssistant:
			s.commitAssistant(p.Content, p.TokenUsage)
		}
	case *aios.RunStarted:
		s.Runs++
		s.Run = &RunState{ID: e.RunID, Status: RunRunning, Provider: p.Provider, StartedAt: e.Timestamp}
		s.Calls = nil
		if key := e.Metadata[MetaIdempotencyKey]; key != "" && s.keyed(key) == nil {
			if len(s.Keyed) >= maxKeyedRuns {
				s.Keyed = slices.Delete(s.Keyed, 0, len(s.Keyed)-maxKeyedRuns+1)
			}
			s.Keyed = append(s.Keyed, KeyedRun{Key: key, RequestHash: e.Metadata[MetaRequestHash], RunID: e.RunID})
		}
	case *aios.StepStarted:
		if s.Run != nil {
			s.Run.Iterations = p.Index + 1
		}
	case *aios.AssistantMessageCommitted:
		s.commitAssistant(p.Content, p.TokenUsage)
	case *aios.ToolCallRequested:
		n := len(s.Messages)
		if n == 0 || s.Messages[n-1].Role != aios.RoleAssistant || hasToolResultAfter(s.Messages) {
			s.Messages = append(s.Messages, aios.ChatMessage{Role: aios.RoleAssistant})
			n++
		}
		args := compact(p.Arguments)
		s.Messages[n-1].ToolCalls = append(s.Messages[n-1].ToolCalls, aios.ToolCall{ID: p.CallID, Name: p.ToolName, Arguments: args})
		// A fork's events before its fork point are read from its parent,
		// with the parent's branch id.
		inherited := e.BranchID != "" && e.BranchID != s.Branch
		s.Calls = append(s.Calls, CallState{CallID: p.CallID, ToolName: p.ToolName, Arguments: args, Status: CallRequested, Inherited: inherited})
		if s.Run != nil {
			s.Run.ToolCalls++
		}
	case *aios.ApprovalRequested:
		if c := s.call(p.CallID); c != nil {
			c.Status, c.ApprovalID = CallAwaitingApproval, p.ApprovalID
		}
		s.Approvals = append(s.Approvals, Approval{ApprovalID: p.ApprovalID, RunID: e.RunID, CallID: p.CallID, ToolName: p.ToolName, Arguments: compact(p.Arguments), Risk: p.Risk})
		if s.Run != nil {
			s.Run.Status = RunAwaitingApproval
		}
	case *aios.ApprovalResolved:
		for i, a := range s.Approvals {
			if a.ApprovalID != p.ApprovalID {
				continue
			}
			s.Approvals = append(s.Approvals[:i:i], s.Approvals[i+1:]...)
			if c := s.call(a.CallID); c != nil && c.Status == CallAwaitingApproval {
				if p.Decision == aios.ApprovalApproved {
					c.Status = CallApproved
				} else {
					c.Status = CallFailed // the denial itself is journaled as ToolCallFailed next
				}
			}
			break
		}
		if len(s.Approvals) == 0 && s.Run != nil && s.Run.Status == RunAwaitingApproval {
			s.Run.Status = RunRunning
		}
	case *aios.ToolCallStarted:
		if c := s.call(e.Metadata[MetaCallID]); c != nil {
			c.Status, c.ToolRunID = CallStarted, p.ToolRunID
		}
	case *aios.ToolCallCompleted:
		if c := s.call(p.CallID); c != nil {
			c.Status = CallDone
		}
		s.Messages = append(s.Messages, aios.ChatMessage{
			Role: aios.RoleTool, Content: resultText(p.Result), ToolCallID: p.CallID,
			ToolName: p.ToolName, IsError: p.Status != aios.SpanOK,
		})
	case *aios.ToolCallFailed:
		if c := s.call(p.CallID); c != nil {
			c.Status = CallFailed
		}
		s.Messages = append(s.Messages, aios.ChatMessage{
			Role: aios.RoleTool, Content: "error: " + p.Error, ToolCallID: p.CallID, ToolName: p.ToolName, IsError: true,
		})
	case *aios.RunFinished:
		if s.Run != nil {
			s.Run.Status, s.Run.Reason, s.Run.FinalAnswer = RunFinishedStatus, p.Reason, p.FinalAnswer
			s.endKeyed()
		}
	case *aios.RunErrored:
		if s.Run != nil {
			s.Run.Status, s.Run.Reason = RunErroredStatus, p.Error
			s.endKeyed()
		}
	case *aios.StatePatchCommitted:
		return s.applyPatch(p.Patch)
	}
	return nil
}

// endKeyed records how the latest run ended in its keyed entry, if any.
func (s *SessionState) endKeyed() {
	if len(s.Keyed) == 0 {
		return
	}
	if k := &s.Keyed[len(s.Keyed)-1]; k.RunID == s.Run.ID { // keyed runs start in order
		end := *s.Run
		k.End = &end
	}
}

func (s *SessionState) commitAssistant(content string, usage *aios.TokenUsage) {
	s.Messages = append(s.Messages, aios.ChatMessage{Role: aios.RoleAssistant, Content: content})
	s.Calls = nil
	if usage != nil {
		s.Usage = s.Usage.Add(*usage)
		if s.Run != nil {
			s.Run.Usage = s.Run.Usage.Add(*usage)
		}
	}
}

// hasToolResultAfter reports whether the last message is a tool result, in
// which case a new tool call starts a new assistant message.
func hasToolResultAfter(msgs []aios.ChatMessage) bool {
	return len(msgs) > 0 && msgs[len(msgs)-1].Role == aios.RoleTool
}

func (s *SessionState) call(id string) *CallState {
	for i := range s.Calls {
		if s.Calls[i].CallID == id {
			return &s.Calls[i]
		}
	}
	return nil
}

func (s *SessionState) applyPatch(p aios.StatePatch) error {
	if p.BaseVersion != s.Version {
		s.PatchConflicts++
		return nil
	}
	if s.deferSets(p) {
		return nil
	}
	if err := s.applySets(); err != nil {
		return err
	}
	if err := s.decodeDoc(); err != nil {
		return err
	}
	st := &aios.State{Version: s.Version, Doc: s.doc}
	if err := st.Apply(p); err != nil {
		return fmt.Errorf("runtime: state patch: %w", err)
	}
	// Doc is re-encoded lazily (Document): a run patches more often than
	// anyone reads the document.
	s.Version, s.doc, s.docDirty = st.Version, st.Doc, true
	return nil
}

func (s *SessionState) decodeDoc() error {
	if s.docReady {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(s.Doc))
	d.UseNumber()
	if err := d.Decode(&s.doc); err != nil {
		return fmt.Errorf("runtime: state document: %w", err)
	}
	s.docReady = true
	return nil
}

// deferSets folds p without applying it when that gives the same document
// as applying it now: p must be at the current version and made only of
// set ops that cannot fail (a valid JSON value at a path whose parents in
// the document are objects or missing), and each op's path must not be a
// proper prefix or extension of a pending one's. Disjoint sets commute, and
// a set of an equal path replaces the pending value, so applying the
// pending sets later in any order yields the document eager application
// would. Anything else is applied at once, after the pending sets.
func (s *SessionState) deferSets(p aios.StatePatch) bool {
	if p.BaseVersion != s.Version || len(p.Ops) == 0 || s.decodeDoc() != nil {
		return false
	}
	for i, op := range p.Ops {
		if op.Op != aios.OpSet || len(op.Path) < 2 || op.Path[0] != '/' || strings.IndexByte(op.Path, '~') >= 0 ||
			!json.Valid(op.Value) || !objectParents(s.doc, op.Path) {
			return false
		}
		for _, q := range s.sets {
			if overlaps(q.path, op.Path) {
				return false
			}
		}
		for _, q := range p.Ops[:i] {
			if overlaps(q.Path, op.Path) {
				return false
			}
		}
	}
	for _, op := range p.Ops {
		v := bytes.Clone(op.Value) // applied later: not tied to the event's buffer
		if i := slices.IndexFunc(s.sets, func(q pendingSet) bool { return q.path == op.Path }); i >= 0 {
			s.sets[i].value = v
		} else {
			s.sets = append(s.sets, pendingSet{op.Path, v})
		}
	}
	s.Version++
	s.docDirty = true
	return true
}

// objectParents reports whether the root and every parent of path (a
// pointer without escapes) is an object or missing in doc, so that setting
// path cannot fail.
func objectParents(doc any, path string) bool {
	cur, rest := doc, path[1:]
	for {
		switch c := cur.(type) {
		case nil:
			return true // created as objects on the way down
		case map[string]any:
			tok, more, ok := strings.Cut(rest, "/")
			if !ok {
				return true // tok is the key set in this object
			}
			cur, rest = c[tok], more
		default:
			return false
		}
	}
}

// overlaps reports whether one path is a proper prefix of the other:
// setting one would change where the other lands.
func overlaps(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return len(a) < len(b) && b[len(a)] == '/' && b[:len(a)] == a
}

// applySets applies the deferred sets to the document.
func (s *SessionState) applySets() error {
	if len(s.sets) == 0 {
		return nil
	}
	if err := s.decodeDoc(); err != nil {
		return err
	}
	ops := make([]aios.PatchOp, len(s.sets))
	for i, q := range s.sets {
		ops[i] = aios.PatchOp{Op: aios.OpSet, Path: q.path, Value: q.value}
	}
	doc, err := aios.ApplyOps(s.doc, ops)
	if err != nil {
		return fmt.Errorf("runtime: state patch: %w", err)
	}
	s.doc, s.sets, s.docDirty = doc, nil, true
	return nil
}

// resultText turns a ToolCallCompleted result into the text the model sees:
// the output of {"output":…} (unquoted when it is a string), else the JSON.
func resultText(raw json.RawMessage) string {
	if v, ok := toolOutput(raw); ok {
		return valueText(v)
	}
	var r struct {
		Output json.RawMessage `json:"output"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(raw, &r) == nil {
		for _, v := range []json.RawMessage{r.Output, r.Error} {
			if len(v) == 0 {
				continue
			}
			return valueText(v)
		}
	}
	return string(compact(raw))
}

// toolOutput finds the value in a result exactly as toolResult writes it,
// {"output":v,"status":"success"} or {"error":v,"status":"failure"},
// without decoding: the fold reads every tool result. ok is false for any
// other shape, which the decoder then handles.
func toolOutput(raw []byte) (v []byte, ok bool) {
	for _, f := range [...]struct{ head, tail string }{
		{`{"output":`, `,"status":"success"}`},
		{`{"error":`, `,"status":"failure"}`},
	} {
		if len(raw) > len(f.head)+len(f.tail) && string(raw[:len(f.head)]) == f.head && string(raw[len(raw)-len(f.tail):]) == f.tail {
			v = raw[len(f.head) : len(raw)-len(f.tail)]
			// One valid value with no space around it is what the
			// decoder would have found at that key.
			return v, !isSpace(v[0]) && !isSpace(v[len(v)-1]) && json.Valid(v)
		}
	}
	return nil, false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// valueText is a string value (valid JSON) unquoted, null empty, any
// other value compacted.
func valueText(v []byte) string {
	switch {
	case string(v) == "null":
		return "" // as decoding null into a string leaves it
	case len(v) > 0 && v[0] != '"':
		if !bytes.ContainsAny(v, " \t\r\n") {
			return string(v)
		}
		return string(compact(v))
	case len(v) >= 2 && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v):
		return string(v[1 : len(v)-1]) // no escapes, so the text is the bytes
	}
	var str string
	if json.Unmarshal(v, &str) == nil {
		return str
	}
	return string(compact(v))
}

func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	if !bytes.ContainsAny(raw, " \t\r\n") {
		// Compacting changes only whitespace (and fails on bad JSON, which
		// returns raw as well): a copy is all it would add.
		return bytes.Clone(raw)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// Transcript renders the conversation as plain text, one block per message,
// then how the last run ended unless it answered. It depends only on the
// state, so a live run and a replay print the same.
func (s *SessionState) Transcript() string {
	var b strings.Builder
	for _, m := range s.Messages {
		switch m.Role {
		case aios.RoleUser:
			fmt.Fprintf(&b, "user: %s\n", m.Content)
		case aios.RoleAssistant:
			if m.Content != "" {
				fmt.Fprintf(&b, "assistant: %s\n", m.Content)
			}
			for _, c := range m.ToolCalls {
				fmt.Fprintf(&b, "tool call %s %s\n", c.Name, c.Arguments)
			}
		case aios.RoleTool:
			status := "ok"
			if m.IsError {
				status = "error"
			}
			fmt.Fprintf(&b, "tool result %s (%s): %s\n", m.ToolName, status, oneLine(m.Content, 400))
		case aios.RoleSystem:
			fmt.Fprintf(&b, "system: %s\n", m.Content)
		}
	}
	// How the last run ended when that is not a plain answer: a failed or
	// paused session would otherwise read as one that stopped mid-thought.
	if r := s.Run; r != nil {
		switch {
		case r.Status == RunErroredStatus:
			fmt.Fprintf(&b, "[run failed: %s]\n", oneLine(r.Reason, 400))
		case r.Status == RunAwaitingApproval:
			for _, a := range s.Approvals {
				fmt.Fprintf(&b, "[waiting for approval: %s %s]\n", a.ToolName, a.Arguments)
			}
		case r.Status == RunRunning:
			b.WriteString("[run not finished: in progress, or interrupted (it resumes when arcand starts or the session is continued)]\n")
		case r.Reason != StatusCompleted:
			fmt.Fprintf(&b, "[run ended: %s]\n", r.Reason)
		}
	}
	return b.String()
}

func oneLine(s string, limit int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}

// Package runtime is arcan's agent loop. One run reconstructs a session's
// state from the journal (snapshot plus tail), asks the autonomic gate for
// advice (advisory, fail-open), streams a provider call, puts each tool call
// through the policy, and appends every step to the journal, reporting
// events only once they are durable.
//
// The state ([SessionState]) is a pure fold over the journal: the live
// runtime and a replay apply the same events with the same code, so they
// produce byte-identical JSON. The journal alone orders a stream's writers:
// a state patch based on a version another writer's patch took first is
// rejected by the fold, and the runtime re-bases its own. Tool-call intent
// is journaled before the tool runs, so after a crash a call that started
// but never completed is reported to the model instead of being silently run
// twice (unless its tool is annotated Idempotent). Approval pauses are
// journal facts too, so they survive restarts.
//
// The package depends only on the aios ports; the binaries in arcan/cmd
// wire the real journal, tools, policy and gate.
package runtime

// Package vigil makes every agent turn observable in any OpenTelemetry
// backend: traces and metrics with the GenAI semantic conventions, derived
// from the aios contract rather than placed by hand.
//
// A runtime installs it by wrapping its ports and binding each run's
// context to its journal stream:
//
//	tel, err := vigil.FromEnv(ctx)           // OTEL_* variables; exports nothing by default
//	defer tel.Shutdown(ctx)                  // flushes
//	journal = tel.WrapJournal(journal)       // lago append/replay spans, trace ids into event metadata, run spans
//	provider = tel.WrapProvider(provider)    // chat {model} spans, token usage and duration metrics
//	tools = tel.WrapRegistry(tools)          // execute_tool {name} spans, tool metrics
//	ctx = tel.Bind(ctx, stream)              // provider and tool spans nest under the run's phase span
//
// The span tree of a turn comes from the journal events themselves
// (RunStarted, StepStarted, PhaseEntered, RunFinished, ...) through the
// [RunTracer], so a recorded journal can be replayed into the same tree,
// linked to the trace it was first written under. [LogHandler] adds trace
// ids to slog records.
package vigil

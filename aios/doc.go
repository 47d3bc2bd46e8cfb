// Package aios is the kernel contract of Life-Go: the journal envelope, the
// event taxonomy, agent state, policy types and the ports (Journal, BlobStore,
// Provider, Tool, PolicyGate, Gate, Custody, Clock, IDs) that every other module
// implements or consumes.
//
// The wire format is the journal JSON of the Rust reference system ("Life
// Agent OS"), so Go and Rust agents can read each other's journals. Its rules
// are in shared/conformance/TAXONOMY.md; the points that matter for users:
//
//   - A payload is a tagged union on "type". Every known kind is a Go struct
//     (UserMessage, ToolCallRequested, ...) implementing [Payload].
//   - A payload whose type is unknown is kept verbatim as [Unknown] and
//     re-encodes to the same JSON. A known payload with extra keys keeps them.
//   - A known payload that is malformed (missing required field, wrong JSON
//     type, bad enum value) is a [*DecodeError] matching [ErrMalformed]; it is
//     never stored as something else.
//   - Subsystem events (anima.*, finance.*, autonomic.*, ...) travel as
//     {"type":"Custom","event_type":"...","data":{...}} and decode into typed
//     structs when the event_type is one this package knows.
//
// This module imports nothing outside the standard library, so any program can
// depend on it without pulling in the rest of Life-Go.
package aios

// Package e2e holds vigil's end-to-end tests: a real arcan turn (mock
// provider, one praxis tool, the lago bbolt journal) traced through vigil's
// decorators and exported to a real OpenTelemetry Collector. It is its own
// module so that vigil itself never depends on the runtime it observes.
package e2e

// Package bridges holds the typed adapters that join Life-Go's subsystem
// modules, so that no subsystem imports another: autonomiclago feeds
// autonomic's projection from any aios.Journal (lago's included), gate is
// the fail-open aios.Gate decorator the runtime consults before a turn, and
// lagoremote is an aios.Journal over lagod's HTTP API for daemons that
// follow a journal they do not own.
package bridges

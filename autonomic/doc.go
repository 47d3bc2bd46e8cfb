// Package autonomic is Life-Go's homeostasis: a pure fold of journal events
// into three pillars (operational, cognitive, economic), a small deterministic
// rule engine whose decisions merge most-restrictive-wins, and hysteresis so a
// noisy signal does not make the modes flap. The result is an [aios.Gating]
// that the runtime honours before each turn.
//
// Packages:
//   - projection: the pillars and the fold, with snapshot/resume;
//   - hysteresis: leveled latches with enter/exit thresholds and a dwell time;
//   - rules: the rules, their thresholds and the merge;
//   - controller: per-stream state (projection + latches), the gating
//     decision and the transition events to journal; an aios.Gate.
//
// Time comes only from event timestamps, never from the wall clock, so a
// replay of the same journal always yields the same decisions.
package autonomic

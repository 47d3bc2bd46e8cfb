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
//     decision and the transition events to journal; an aios.Gate;
//   - api: autonomicd's HTTP interface (healthz, gating, projection, rules);
//   - cmd/autonomicd: the daemon, a nested module because it links lago.
//
// The journal adapter (bridges/autonomiclago) and the fail-open gate the
// runtime uses (bridges/gate) live in the bridges module, so this module
// imports nothing but aios. config.example.json is the default
// configuration written out in full.
//
// Time comes only from event timestamps, never from the wall clock, so a
// replay of the same journal always yields the same decisions.
package autonomic

// Package spaces is Life-Go's real-time agent networking: spaces with
// channels, role-based access, presence and direct messages over NATS (a
// server embedded in the daemon by default, an external cluster beyond one
// machine), and a bridge to the A2A protocol.
//
// This first cut holds the addressing every later part uses: how a space and
// channel map onto NATS subjects, validated so that no agent can subscribe
// to another space's traffic through a wildcard or a dot in a name.
package spaces

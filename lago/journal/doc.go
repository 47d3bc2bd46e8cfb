// Package journal is the append-only event journal on a bbolt file. It
// implements aios.Journal.
//
// Layout of the bbolt file (all integers big-endian):
//
//	streams/   session\x00branch -> streamMeta (JSON): parent, fork, head, digest
//	events/    session\x00branch/ (nested bucket) seq -> stored envelope bytes
//	ids/       event_id -> seq(8) + session\x00branch
//	order/     session/ (nested bucket) gseq -> seq(8) + branch  (append order, for export)
//	snapshots/ session\x00branch\x00name -> seq(8) + projection bytes
//	meta/      "gseq" -> last global append number
//
// Writes go through one committer goroutine that gathers every pending
// Append into a single bbolt transaction (group commit): one fsync acknowledges
// the whole batch, and no Append returns before its batch is durable.
//
// Each stored event carries metadata["digest"] = hex(Blake3(prev || canonical)),
// where prev is the raw 32-byte digest of the previous event of the stream
// (for a branch's first event, the parent's event at the fork point; empty for
// the first event of a root stream) and canonical is the envelope's compact
// JSON without the digest key (aios.EventEnvelope.CanonicalBytes). Verify
// recomputes the chain.
//
// Branches: a BranchCreated event appended to a stream registers the child
// stream (session, new_branch_id) forked at fork_point_seq. Reads of the child
// see the parent's events up to the fork point, then the child's own events,
// whose seqs continue at fork+1.
package journal

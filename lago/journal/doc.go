// Package journal is the append-only event journal on a bbolt file. It
// implements aios.Journal.
//
// Layout of the bbolt file (integers big-endian):
//
//	streams/   session\x00branch -> streamMeta (JSON): parent, fork, creation number
//	events/    session\x00branch\x00seq(8) -> gseq(8) + stored envelope JSON
//	ids/       event_id -> seq(8) + session\x00branch
//	snapshots/ session\x00branch\x00name -> seq(8) + projection bytes
//
// gseq is a journal-wide append number: it orders a session's branches for
// export. A stream's head and head digest are read from its last event, so
// an append writes only its event and its id (two leaf pages per tx in the
// common case, close to the one of a raw bbolt put).
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

// Package journal is the append-only event journal on a bbolt file. It
// implements aios.Journal.
//
// Layout of the bbolt file (integers big-endian):
//
//	streams/   session\x00branch -> streamMeta (JSON): parent, fork, creation number
//	log/       gseq(8) -> seq(8) + uvarint len(stream key) + stream key + stored envelope JSON
//	index/     session\x00branch\x00seq(8) -> gseq(8)
//	ids/       event_id -> seq(8) + session\x00branch
//	meta/      ids_through -> gseq(8): ids and index entries written up to here
//	snapshots/ session\x00branch\x00name -> seq(8) + projection bytes
//
// gseq is a journal-wide append number. Every event goes to the one log
// bucket under it, so a batch of events from many streams fills the same
// few pages at the end of one tree (a commit's page count does not grow
// with the number of streams it touches). The index and ids entries are
// written in bulk every ~1024 events, in the same transaction as a batch;
// the events after the ids_through mark are found by scanning the log tail,
// which Open also does to rebuild the pending ids. A stream's head and head
// digest are read from its last event.
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

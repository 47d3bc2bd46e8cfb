package journal

import (
	"context"
	"fmt"

	"github.com/lifeos/life/aios"
)

// Fork creates branch name of parent at seq atSeq (0 means the parent's
// head) by appending a BranchCreated event to the parent, and returns that
// event's seq. ids and clock stamp the event.
func (j *Journal) Fork(ctx context.Context, ids aios.IDGenerator, clock aios.Clock, parent aios.StreamID, branch string, atSeq uint64) (uint64, error) {
	if atSeq == 0 {
		h, err := j.Head(ctx, parent)
		if err != nil {
			return 0, err
		}
		atSeq = h
	}
	ev := aios.NewEnvelope(ids, clock, parent.Session, parent.Branch,
		&aios.BranchCreated{NewBranchID: branch, ForkPointSeq: atSeq, Name: branch})
	seqs, err := j.Append(ctx, ev)
	if err != nil {
		return 0, fmt.Errorf("journal: fork %s at %d: %w", branch, atSeq, err)
	}
	return seqs[0], nil
}

// Merge records that source was merged into target: a BranchMerged event on
// target naming source's head. The events themselves are not copied; a
// projection that wants them reads source up to merge_seq.
func (j *Journal) Merge(ctx context.Context, ids aios.IDGenerator, clock aios.Clock, session, source, target string) (uint64, error) {
	src := aios.StreamID{Session: session, Branch: source}
	h, err := j.Head(ctx, src)
	if err != nil {
		return 0, err
	}
	if h == 0 {
		return 0, fmt.Errorf("journal: merge %s: %w", source, aios.ErrNotFound)
	}
	ev := aios.NewEnvelope(ids, clock, session, target, &aios.BranchMerged{SourceBranchID: source, MergeSeq: h})
	seqs, err := j.Append(ctx, ev)
	if err != nil {
		return 0, fmt.Errorf("journal: merge %s into %s: %w", source, target, err)
	}
	return seqs[0], nil
}

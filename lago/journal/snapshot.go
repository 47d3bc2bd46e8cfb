package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/lifeos/life/aios"
	bolt "go.etcd.io/bbolt"
)

// Snapshots checkpoint a projection of a stream at a seq, so rebuilding it
// reads only the events after that seq. The journal stores the projection's
// bytes opaquely; Project does the load-then-fold.

func snapKey(st aios.StreamID, name string) []byte {
	return []byte(streamKey(st) + "\x00" + name)
}

// SaveSnapshot stores data as the projection name of st at seq (durably,
// replacing an older one).
func (j *Journal) SaveSnapshot(ctx context.Context, st aios.StreamID, name string, seq uint64, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkStream(st); err != nil {
		return err
	}
	if name == "" || strings.ContainsRune(name, 0) || len(name) > MaxIDLen {
		return fmt.Errorf("%w: snapshot name %q", ErrInvalid, name)
	}
	head, err := j.Head(ctx, st)
	if err != nil {
		return err
	}
	if seq > head {
		return fmt.Errorf("%w: snapshot at %d past head %d", ErrInvalid, seq, head)
	}
	v := make([]byte, 8+len(data))
	binary.BigEndian.PutUint64(v, seq)
	copy(v[8:], data)
	return j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktSnapshots).Put(snapKey(st, name), v)
	})
}

// LoadSnapshot returns the stored projection name of st and its seq; a
// missing snapshot is aios.ErrNotFound.
func (j *Journal) LoadSnapshot(ctx context.Context, st aios.StreamID, name string) (uint64, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	var seq uint64
	var data []byte
	err := j.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktSnapshots).Get(snapKey(st, name))
		if v == nil {
			return fmt.Errorf("journal: snapshot %q of %s/%s: %w", name, st.Session, st.Branch, aios.ErrNotFound)
		}
		if len(v) < 8 {
			return fmt.Errorf("%w: snapshot %q", ErrCorrupt, name)
		}
		seq = binary.BigEndian.Uint64(v)
		data = append([]byte(nil), v[8:]...)
		return nil
	})
	return seq, data, err
}

// Projection folds events into a state S and (de)serialises it for snapshots.
type Projection[S any] struct {
	Name   string
	Init   func() S
	Apply  func(S, aios.EventEnvelope) (S, error)
	Encode func(S) ([]byte, error)
	Decode func([]byte) (S, error)
}

// Project rebuilds p for st up to until (0: head): from the snapshot when
// one exists at or below until, then the tail. It returns the state and the
// seq it covers.
// A snapshot that does not decode is an error matching ErrCorrupt (the
// next CheckpointAt replaces it).
func Project[S any](ctx context.Context, j *Journal, st aios.StreamID, p Projection[S], until uint64) (S, uint64, error) {
	return project(ctx, j, st, p, until, true)
}

// snapshotError is a stored snapshot its projection cannot decode.
type snapshotError struct {
	name string
	err  error
}

func (e *snapshotError) Error() string {
	return fmt.Sprintf("%v: snapshot %q does not decode: %v", ErrCorrupt, e.name, e.err)
}

func (e *snapshotError) Unwrap() []error { return []error{ErrCorrupt, e.err} }

func project[S any](ctx context.Context, j *Journal, st aios.StreamID, p Projection[S], until uint64, useSnap bool) (S, uint64, error) {
	s := p.Init()
	var from uint64
	seq, data, err := j.LoadSnapshot(ctx, st, p.Name)
	if !useSnap {
		err = fmt.Errorf("snapshot ignored: %w", aios.ErrNotFound)
	}
	switch {
	case err == nil && (until == 0 || seq <= until):
		if s, err = p.Decode(data); err != nil {
			return p.Init(), 0, &snapshotError{name: p.Name, err: err}
		}
		from = seq
	case err != nil && !errors.Is(err, aios.ErrNotFound):
		return s, 0, err
	}
	last := from
	for ev, err := range j.Read(ctx, aios.ReadQuery{Stream: st, After: from, Until: until}) {
		if err != nil {
			return s, last, err
		}
		if s, err = p.Apply(s, ev); err != nil {
			return s, last, fmt.Errorf("journal: project %q at seq %d: %w", p.Name, ev.Seq, err)
		}
		last = ev.Seq
	}
	return s, last, nil
}

// Checkpoint projects st to its head and saves the result as a snapshot.
func Checkpoint[S any](ctx context.Context, j *Journal, st aios.StreamID, p Projection[S]) (uint64, error) {
	return CheckpointAt(ctx, j, st, p, 0)
}

// CheckpointAt projects st up to seq at (0: head) and saves the result as
// the projection's snapshot (replacing the one stored, even one that no
// longer decodes). It returns the seq covered.
func CheckpointAt[S any](ctx context.Context, j *Journal, st aios.StreamID, p Projection[S], at uint64) (uint64, error) {
	if at > 0 {
		// a seq not yet written is a mistake, not "the head"
		head, err := j.Head(ctx, st)
		if err != nil {
			return 0, err
		}
		if at > head {
			return 0, fmt.Errorf("%w: snapshot at %d past head %d of %s/%s", ErrInvalid, at, head, st.Session, st.Branch)
		}
	}
	s, seq, err := Project(ctx, j, st, p, at)
	if se := (*snapshotError)(nil); errors.As(err, &se) {
		// The events are the truth: rebuild from them and replace the
		// snapshot, or it would block every projection for good.
		s, seq, err = project(ctx, j, st, p, at, false)
	}
	if err != nil {
		return 0, err
	}
	data, err := p.Encode(s)
	if err != nil {
		return 0, fmt.Errorf("journal: encode snapshot %q: %w", p.Name, err)
	}
	return seq, j.SaveSnapshot(ctx, st, p.Name, seq, data)
}

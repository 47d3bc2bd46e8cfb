package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"

	"github.com/lifeos/life/aios"
	bolt "go.etcd.io/bbolt"
)

// ErrBroken is matched by a *BrokenError: a verify run found a broken link.
var ErrBroken = errors.New("journal: broken chain")

// BrokenError names the first broken link found by Verify.
type BrokenError struct {
	Stream aios.StreamID
	Seq    uint64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("journal: stream %s/%s broken at seq %d: %s", e.Stream.Session, e.Stream.Branch, e.Seq, e.Reason)
}

func (e *BrokenError) Unwrap() error { return ErrBroken }

// VerifyReport counts what Verify checked.
type VerifyReport struct {
	Streams int
	Events  int
}

// Verify walks every stream: seqs must run without gaps from the start (1,
// or fork+1 for a branch), each event must decode, carry its stream and seq,
// be indexed by its event_id, and its digest must equal the Blake3 chain.
// The first problem is returned as a *BrokenError.
func (j *Journal) Verify(ctx context.Context) (rep VerifyReport, err error) {
	// bbolt panics on a damaged page; for verify that is a finding
	err = catch(func() error {
		rep, err = j.verify(ctx)
		return err
	})
	return rep, err
}

func (j *Journal) verify(ctx context.Context) (VerifyReport, error) {
	var rep VerifyReport
	infos, err := j.Streams(ctx, "")
	if err != nil {
		return rep, err
	}
	for _, in := range infos {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		n, err := j.verifyStream(in)
		rep.Events += n
		if err != nil {
			return rep, err
		}
		rep.Streams++
	}
	return rep, j.verifyIDs(ctx)
}

// verifyIDs checks the event-id index against the events: every indexed id
// must name a stored event carrying it. This is what catches a cut-off
// stream tail, which leaves a shorter but consistent chain behind.
func (j *Journal) verifyIDs(ctx context.Context) error {
	return j.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktIDs).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(v) < 8 {
				return &BrokenError{Reason: fmt.Sprintf("event_id %q: bad index entry", k)}
			}
			seq := binary.BigEndian.Uint64(v)
			st := splitKey(string(v[8:]))
			ev, err := eventAt(tx, string(v[8:]), seq)
			if err != nil {
				return &BrokenError{Stream: st, Seq: seq, Reason: fmt.Sprintf("event %s: %v", k, err)}
			}
			if ev == nil {
				return &BrokenError{Stream: st, Seq: seq, Reason: fmt.Sprintf("event %s is indexed but missing (cut-off tail?)", k)}
			}
			var head struct {
				EventID string `json:"event_id"`
			}
			if json.Unmarshal(ev, &head) != nil || head.EventID != string(k) {
				return &BrokenError{Stream: st, Seq: seq, Reason: fmt.Sprintf("event_id index says %s, event says %q", k, head.EventID)}
			}
		}
		return nil
	})
}

func (j *Journal) verifyStream(in StreamInfo) (int, error) {
	st := in.Stream
	broken := func(seq uint64, format string, a ...any) error {
		return &BrokenError{Stream: st, Seq: seq, Reason: fmt.Sprintf(format, a...)}
	}
	n := 0
	// Take the read transaction and the in-memory id index together, so an
	// event visible in the one has its id in the other or in the file.
	j.idsMu.RLock()
	tx, err := j.db.Begin(false)
	pending := maps.Clone(j.pending)
	j.idsMu.RUnlock()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	err = func() error {
		key := streamKey(st)
		prevHex := ""
		if in.Parent != "" {
			pk := st.Session + "\x00" + in.Parent
			if _, ok, err := readMetaHead(tx, pk); err != nil || !ok {
				return broken(in.Fork, "parent branch %q missing", in.Parent)
			}
			d, err := digestAt(tx, nil, nil, pk, in.Fork)
			if err != nil {
				return broken(in.Fork, "fork point: %v", err)
			}
			prevHex = d
		}
		want := in.Fork + 1
		ids := tx.Bucket(bktIDs)
		var lastG uint64
		err := eachEvent(tx, key, want, math.MaxUint64, func(seq, g uint64, v []byte) (bool, error) {
			if seq != want {
				return false, broken(want, "seq gap: found %d", seq)
			}
			if g <= lastG {
				return false, broken(seq, "append number %d not after %d", g, lastG)
			}
			lastG = g
			e, err := aios.DecodeEnvelope(v)
			if err != nil {
				return false, broken(seq, "decode: %v", err)
			}
			if e.Seq != seq || e.SessionID != st.Session || e.BranchID != st.Branch {
				return false, broken(seq, "envelope says %s/%s seq %d", e.SessionID, e.BranchID, e.Seq)
			}
			d, err := Digest(prevHex, e)
			if err != nil {
				return false, broken(seq, "digest: %v", err)
			}
			if e.Digest() != d {
				return false, broken(seq, "digest mismatch: stored %q, computed %q", e.Digest(), d)
			}
			idv := ids.Get([]byte(e.EventID))
			if idv == nil {
				idv = pending[e.EventID]
			}
			if len(idv) < 8 || binary.BigEndian.Uint64(idv) != seq || !bytes.Equal(idv[8:], []byte(key)) {
				return false, broken(seq, "event_id %s not indexed at this seq", e.EventID)
			}
			prevHex = d
			want++
			n++
			return true, nil
		})
		var be *BrokenError
		if errors.As(err, &be) {
			return err
		}
		if err != nil {
			// a stored record or index entry that does not read back
			return broken(want, "%v", err)
		}
		if in.Head != want-1 {
			return broken(want, "head says %d, last stored seq is %d", in.Head, want-1)
		}
		if want-1 > in.Fork && in.Digest != prevHex {
			return broken(in.Head, "head digest %q differs from chain %q", in.Digest, prevHex)
		}
		return nil
	}()
	return n, err
}

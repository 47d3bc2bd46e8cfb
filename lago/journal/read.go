package journal

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"math"
	"runtime"
	"slices"

	"github.com/lifeos/life/aios"
	bolt "go.etcd.io/bbolt"
)

// RawEvent is one stored event: its seq, the branch that stored it (a
// parent's for the prefix of a forked branch) and its stored JSON bytes,
// digest included. Data must not be modified; it stays valid after the
// iteration step.
type RawEvent struct {
	Seq    uint64
	Branch string
	Data   []byte
	Gseq   uint64 // journal-wide append number: orders a session's branches
}

// readChunk bounds how many events one read transaction copies out, so a
// slow consumer never holds a bbolt read transaction (which would block the
// file from growing) and memory stays flat in stream length.
const readChunk = 2048

// segment is a seq range of one physical stream bucket.
type segment struct {
	key      string
	branch   string
	from, to uint64 // inclusive
}

// plan resolves the physical segments of a logical stream for seqs > after.
func plan(tx *bolt.Tx, st aios.StreamID) ([]segment, streamMeta, bool, error) {
	key := streamKey(st)
	m, ok, err := readMetaHead(tx, key)
	if err != nil || !ok {
		return nil, m, ok, err
	}
	var segs []segment
	cur, upper := m, uint64(math.MaxUint64)
	branch := st.Branch
	for depth := 0; ; depth++ {
		if depth > 1000 {
			return nil, m, false, fmt.Errorf("%w: branch chain too deep at %q", ErrCorrupt, key)
		}
		s := segment{key: key, branch: branch, from: cur.Fork + 1, to: upper}
		if cur.Parent == "" {
			s.from = 1
		}
		segs = append(segs, s)
		if cur.Parent == "" {
			break
		}
		upper = min(upper, cur.Fork)
		branch = cur.Parent
		key = st.Session + "\x00" + cur.Parent
		var ok bool
		if cur, ok, err = readMetaHead(tx, key); err != nil {
			return nil, m, false, err
		} else if !ok {
			return nil, m, false, fmt.Errorf("%w: parent stream %q missing", ErrCorrupt, key)
		}
	}
	slices.Reverse(segs)
	return segs, m, true, nil
}

// ReadRaw yields the stored bytes of the events of q.Stream in seq order,
// without decoding: the fast path for replication, export and SSE.
func (j *Journal) ReadRaw(ctx context.Context, q aios.ReadQuery) iter.Seq2[RawEvent, error] {
	return func(yield func(RawEvent, error) bool) {
		for chunk, err := range j.rawChunks(ctx, q, true) {
			if err != nil {
				yield(RawEvent{}, err)
				return
			}
			for _, ev := range chunk {
				if !yield(ev, nil) {
					return
				}
			}
		}
	}
}

// rawChunks yields the events of q in chunks of at most readChunk, one read
// transaction each. With reuse the chunk's slice is reused by the next one.
func (j *Journal) rawChunks(ctx context.Context, q aios.ReadQuery, reuse bool) iter.Seq2[[]RawEvent, error] {
	return func(yield func([]RawEvent, error) bool) {
		after, n := q.After, 0
		var buf []RawEvent
		for {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			want := readChunk
			if q.Limit > 0 {
				want = min(want, q.Limit-n)
			}
			if !reuse {
				buf = nil
			}
			var err error
			buf, err = j.readChunk(q.Stream, after, q.Until, want, buf[:0])
			if err != nil {
				yield(nil, err)
				return
			}
			if len(buf) > 0 {
				if !yield(buf, nil) {
					return
				}
				after = buf[len(buf)-1].Seq
				n += len(buf)
			}
			if len(buf) < want || (q.Limit > 0 && n >= q.Limit) {
				return
			}
		}
	}
}

// readChunk copies up to max events with seq in (after, until] into out.
func (j *Journal) readChunk(st aios.StreamID, after, until uint64, max int, out []RawEvent) ([]RawEvent, error) {
	if after == math.MaxUint64 {
		return out, nil // no seq follows it (after+1 would wrap to the start)
	}
	err := j.db.View(func(tx *bolt.Tx) error {
		segs, _, ok, err := plan(tx, st)
		if err != nil || !ok {
			return err
		}
		// one allocation for all the bytes of the chunk
		var arena []byte
		for _, s := range segs {
			lo := max64(s.from, after+1)
			hi := s.to
			if until > 0 {
				hi = min(hi, until)
			}
			if lo > hi || len(out) >= max {
				continue
			}
			err := eachEvent(tx, s.key, lo, hi, func(seq, g uint64, v []byte) (bool, error) {
				if cap(arena)-len(arena) < len(v) {
					arena = make([]byte, 0, max64i(64<<10, len(v)))
				}
				start := len(arena)
				arena = append(arena, v...)
				out = append(out, RawEvent{Seq: seq, Branch: s.branch, Gseq: g, Data: arena[start:len(arena):len(arena)]})
				return len(out) < max, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("journal: read %s/%s: %w", st.Session, st.Branch, err)
	}
	return out, nil
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func max64i(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// Read yields the decoded events of a stream in seq order (aios.Journal).
// A parent's events before the fork point come first for a branch.
//
// A read longer than one chunk is decoded by a worker per processor, a few
// chunks ahead of the consumer: decoding costs ten times the read, so a
// replay goes at the speed of all cores (a consumer that stops early has had
// at most those few chunks decoded for nothing). A short read is decoded on
// the caller's goroutine as it is consumed.
func (j *Journal) Read(ctx context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(aios.EventEnvelope{}, err)
			return
		}
		want := readChunk
		if q.Limit > 0 {
			want = min(want, q.Limit)
		}
		first, err := j.readChunk(q.Stream, q.After, q.Until, want, nil)
		if err != nil {
			yield(aios.EventEnvelope{}, err)
			return
		}
		if len(first) < readChunk || q.Limit == len(first) {
			// the whole read: no workers, and nothing decoded that the
			// consumer does not take
			decodeRaw(func(yield func(RawEvent, error) bool) {
				for _, r := range first {
					if !yield(r, nil) {
						return
					}
				}
			})(yield)
			return
		}
		rest := q
		rest.After = first[len(first)-1].Seq
		if q.Limit > 0 {
			rest.Limit = q.Limit - len(first)
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		order := make(chan *decodeJob, runtime.GOMAXPROCS(0))
		go func() {
			defer close(order)
			send := func(raw []RawEvent, err error) bool {
				jb := &decodeJob{err: err, done: make(chan struct{})}
				if err != nil {
					close(jb.done)
				} else {
					go func() {
						defer close(jb.done)
						jb.out, jb.err = decodeChunk(raw)
					}()
				}
				select {
				case order <- jb:
					return err == nil
				case <-ctx.Done():
					return false
				}
			}
			if !send(first, nil) {
				return
			}
			for raw, err := range j.rawChunks(ctx, rest, false) {
				if !send(raw, err) {
					return
				}
			}
		}()
		for jb := range order {
			<-jb.done
			for _, e := range jb.out {
				if !yield(e, nil) {
					cancel()
					return
				}
			}
			if jb.err != nil {
				yield(aios.EventEnvelope{}, jb.err)
				cancel()
				return
			}
		}
	}
}

// decodeJob is one chunk being decoded for Read.
type decodeJob struct {
	out  []aios.EventEnvelope
	err  error
	done chan struct{}
}

// decodeChunk decodes raw up to the first event that does not decode.
func decodeChunk(raw []RawEvent) ([]aios.EventEnvelope, error) {
	out := make([]aios.EventEnvelope, 0, len(raw))
	var dec aios.Decoder
	for _, r := range raw {
		e, err := dec.Decode(r.Data)
		if err != nil {
			return out, fmt.Errorf("%w: seq %d: %w", ErrCorrupt, r.Seq, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func decodeRaw(raw iter.Seq2[RawEvent, error]) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		var dec aios.Decoder
		for r, err := range raw {
			if err != nil {
				yield(aios.EventEnvelope{}, err)
				return
			}
			e, err := dec.Decode(r.Data)
			if err != nil {
				yield(aios.EventEnvelope{}, fmt.Errorf("%w: seq %d: %w", ErrCorrupt, r.Seq, err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// Head returns the last seq of a stream (for a branch with no events of its
// own, its fork point); 0 for a stream never written.
func (j *Journal) Head(ctx context.Context, st aios.StreamID) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var head uint64
	err := j.db.View(func(tx *bolt.Tx) error {
		m, ok, err := readMetaHead(tx, streamKey(st))
		if ok {
			head = m.Head
		}
		return err
	})
	return head, err
}

// Subscribe yields the events with seq > after, stored ones first, then
// live ones as they commit, until ctx ends or the consumer stops.
func (j *Journal) Subscribe(ctx context.Context, st aios.StreamID, after uint64) iter.Seq2[aios.EventEnvelope, error] {
	return decodeRaw(j.SubscribeRaw(ctx, st, after))
}

// SubscribeRaw is Subscribe without decoding.
func (j *Journal) SubscribeRaw(ctx context.Context, st aios.StreamID, after uint64) iter.Seq2[RawEvent, error] {
	return func(yield func(RawEvent, error) bool) {
		key := streamKey(st)
		waiting := false
		defer func() {
			if waiting {
				j.unwait(key)
			}
		}()
		for {
			// Take the wake-up channel before reading: a commit after the
			// read closes it, so nothing falls between catch-up and wait.
			ch, err := j.changed(key)
			if err != nil {
				yield(RawEvent{}, err)
				return
			}
			waiting = true
			for ev, err := range j.ReadRaw(ctx, aios.ReadQuery{Stream: st, After: after}) {
				if err != nil {
					yield(RawEvent{}, err)
					return
				}
				if !yield(ev, nil) {
					return
				}
				after = ev.Seq
			}
			select {
			case <-ctx.Done():
				yield(RawEvent{}, ctx.Err())
				return
			case <-ch:
			}
			j.unwait(key)
			waiting = false
		}
	}
}

// StreamInfo describes one stream.
type StreamInfo struct {
	Stream aios.StreamID
	Parent string // parent branch, "" for a root stream
	Fork   uint64
	Head   uint64
	Digest string
}

// Streams lists the streams of a session ("" for all), in creation order.
func (j *Journal) Streams(ctx context.Context, session string) ([]StreamInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type row struct {
		info  StreamInfo
		order uint64
	}
	var rows []row
	err := j.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktStreams).Cursor()
		prefix := []byte(session + "\x00")
		var k []byte
		if session == "" {
			k, _ = c.First()
		} else {
			k, _ = c.Seek(prefix)
		}
		for ; k != nil; k, _ = c.Next() {
			if session != "" && !bytes.HasPrefix(k, prefix) {
				break
			}
			m, _, err := readMeta(tx, string(k))
			if err != nil {
				return err
			}
			rows = append(rows, row{StreamInfo{splitKey(string(k)), m.Parent, m.Fork, m.Head, m.Digest}, m.Order})
		}
		return nil
	})
	slices.SortStableFunc(rows, func(a, b row) int {
		if a.info.Stream.Session != b.info.Stream.Session {
			return compareStr(a.info.Stream.Session, b.info.Stream.Session)
		}
		return compareU(a.order, b.order)
	})
	out := make([]StreamInfo, len(rows))
	for i, r := range rows {
		out[i] = r.info
	}
	return out, err
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Sessions lists the session ids that have events, sorted.
func (j *Journal) Sessions(ctx context.Context) ([]string, error) {
	infos, err := j.Streams(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, in := range infos {
		if len(out) == 0 || out[len(out)-1] != in.Stream.Session {
			out = append(out, in.Stream.Session)
		}
	}
	return out, nil
}

// ReadSessionRaw yields every event stored in a session, across its
// branches, in the order they were appended (each branch's own events
// only: a forked branch's parent prefix is not repeated). It merges the
// branches' streams by their append number, so memory stays flat.
func (j *Journal) ReadSessionRaw(ctx context.Context, session string) iter.Seq2[RawEvent, error] {
	return func(yield func(RawEvent, error) bool) {
		infos, err := j.Streams(ctx, session)
		if err != nil {
			yield(RawEvent{}, err)
			return
		}
		type head struct {
			next func() (RawEvent, error, bool)
			ev   RawEvent
		}
		var heads []*head
		for _, in := range infos {
			next, stop := iter.Pull2(j.ReadOwnRaw(ctx, in.Stream))
			defer stop()
			h := &head{next: next}
			ev, err, ok := next()
			if err != nil {
				yield(RawEvent{}, err)
				return
			}
			if ok {
				h.ev = ev
				heads = append(heads, h)
			}
		}
		for len(heads) > 0 {
			bi := 0
			for i, h := range heads {
				if h.ev.Gseq < heads[bi].ev.Gseq {
					bi = i
				}
			}
			h := heads[bi]
			if !yield(h.ev, nil) {
				return
			}
			ev, err, ok := h.next()
			if err != nil {
				yield(RawEvent{}, err)
				return
			}
			if ok {
				h.ev = ev
			} else {
				heads = slices.Delete(heads, bi, bi+1)
			}
		}
	}
}

// ReadOwnRaw yields only the events stored on the branch itself (no parent
// prefix), in seq order.
func (j *Journal) ReadOwnRaw(ctx context.Context, st aios.StreamID) iter.Seq2[RawEvent, error] {
	return func(yield func(RawEvent, error) bool) {
		var fork uint64
		err := j.db.View(func(tx *bolt.Tx) error {
			m, _, err := readMetaHead(tx, streamKey(st))
			fork = m.Fork
			return err
		})
		if err != nil {
			yield(RawEvent{}, err)
			return
		}
		for ev, err := range j.ReadRaw(ctx, aios.ReadQuery{Stream: st, After: fork}) {
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// Event returns the event at seq of a stream (a parent's below a branch's
// fork point); a seq past the head or 0 is aios.ErrNotFound.
func (j *Journal) Event(ctx context.Context, st aios.StreamID, seq uint64) (aios.EventEnvelope, error) {
	if seq > 0 {
		for e, err := range j.Read(ctx, aios.ReadQuery{Stream: st, After: seq - 1, Until: seq}) {
			return e, err
		}
	}
	return aios.EventEnvelope{}, fmt.Errorf("journal: %s/%s seq %d: %w", st.Session, st.Branch, seq, aios.ErrNotFound)
}

package journal

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The events of every stream go to one log bucket keyed by gseq, so a
// batch of events from many streams fills the same few leaf pages at the
// end of one B+tree. The per-stream index (stream, seq) -> gseq is written
// later, with the event ids, every idFlushAt events: records after the
// indexed-through mark are found by scanning the short log tail. This keeps
// a many-stream commit at a handful of pages instead of one per stream.

// gkey is the log key of gseq g.
func gkey(g uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], g)
	return b[:]
}

// logHeader is the start of a log record: seq(8), uvarint len(key), key.
func logHeader(key string, seq uint64, extra int) []byte {
	b := make([]byte, 8, 8+binary.MaxVarintLen64+len(key)+extra)
	binary.BigEndian.PutUint64(b, seq)
	b = binary.AppendUvarint(b, uint64(len(key)))
	return append(b, key...)
}

// parseLog splits a log record into its stream key, seq and envelope JSON.
func parseLog(v []byte) (key []byte, seq uint64, data []byte, ok bool) {
	if len(v) < 9 {
		return nil, 0, nil, false
	}
	seq = binary.BigEndian.Uint64(v)
	n, w := binary.Uvarint(v[8:])
	if w <= 0 || n > uint64(len(v)-8-w) {
		return nil, 0, nil, false
	}
	key = v[8+w : 8+w+int(n)]
	return key, seq, v[8+w+int(n):], true
}

// indexedThrough is the gseq up to which the ids and the stream index are
// in their buckets (as of tx).
func indexedThrough(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bktMeta).Get(keyIDsThrough); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// eachEvent calls fn with the events of stream key whose seq is in [lo, hi],
// in seq order: first the indexed ones, then the log tail's. fn returns false
// to stop.
func eachEvent(tx *bolt.Tx, key string, lo, hi uint64, fn func(seq, g uint64, data []byte) (bool, error)) error {
	if lo > hi {
		return nil
	}
	through := indexedThrough(tx)
	lc := tx.Bucket(bktLog).Cursor()
	var lastG uint64
	ic := tx.Bucket(bktIndex).Cursor()
	plen := len(key) + 1
	for k, v := ic.Seek(evKey(key, lo)); k != nil; k, v = ic.Next() {
		if len(k) != plen+8 || string(k[:plen-1]) != key || k[plen-1] != 0 {
			break
		}
		seq := binary.BigEndian.Uint64(k[plen:])
		if seq > hi {
			return nil
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: stream %q seq %d: bad index entry", ErrCorrupt, key, seq)
		}
		g := binary.BigEndian.Uint64(v)
		// a stream's events are often adjacent in the log: step, not seek
		var lk, lv []byte
		if lastG != 0 && g == lastG+1 {
			lk, lv = lc.Next()
		}
		if lk == nil || binary.BigEndian.Uint64(lk) != g {
			lk, lv = lc.Seek(gkey(g))
		}
		if lk == nil || binary.BigEndian.Uint64(lk) != g {
			return fmt.Errorf("%w: stream %q seq %d: indexed event missing", ErrCorrupt, key, seq)
		}
		lastG = g
		rk, rseq, data, ok := parseLog(lv)
		if !ok || rseq != seq || string(rk) != key {
			return fmt.Errorf("%w: stream %q seq %d: index names another event", ErrCorrupt, key, seq)
		}
		if more, err := fn(seq, g, data); err != nil || !more {
			return err
		}
	}
	kb := []byte(key)
	for k, v := lc.Seek(gkey(through + 1)); k != nil; k, v = lc.Next() {
		rk, seq, data, ok := parseLog(v)
		if !ok || len(k) != 8 {
			return fmt.Errorf("%w: log record %x: bad format", ErrCorrupt, k)
		}
		if !bytes.Equal(rk, kb) || seq < lo {
			continue
		}
		if seq > hi {
			return nil
		}
		if more, err := fn(seq, binary.BigEndian.Uint64(k), data); err != nil || !more {
			return err
		}
	}
	return nil
}

// lastEvent returns the seq, gseq and envelope JSON of the last event of
// stream key; ok is false when it has none.
func lastEvent(tx *bolt.Tx, key string) (seq, g uint64, data []byte, ok bool, err error) {
	through := indexedThrough(tx)
	kb := []byte(key)
	lc := tx.Bucket(bktLog).Cursor()
	for k, v := lc.Last(); len(k) == 8 && binary.BigEndian.Uint64(k) > through; k, v = lc.Prev() {
		rk, seq, data, ok := parseLog(v)
		if !ok {
			return 0, 0, nil, false, fmt.Errorf("%w: log record %x: bad format", ErrCorrupt, k)
		}
		if bytes.Equal(rk, kb) {
			return seq, binary.BigEndian.Uint64(k), data, true, nil
		}
	}
	c := tx.Bucket(bktIndex).Cursor()
	top := evKey(key, math.MaxUint64)
	k, _ := c.Seek(top)
	if k == nil {
		k, _ = c.Last()
	} else if !bytes.Equal(k, top) {
		k, _ = c.Prev()
	}
	if k == nil || len(k) != len(key)+9 || !bytes.HasPrefix(k, []byte(key+"\x00")) {
		return 0, 0, nil, false, nil
	}
	seq = binary.BigEndian.Uint64(k[len(key)+1:])
	found := false
	err = eachEvent(tx, key, seq, seq, func(_, gg uint64, d []byte) (bool, error) {
		g, data, found = gg, d, true
		return false, nil
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: stream %q seq %d: indexed event missing", ErrCorrupt, key, seq)
	}
	return seq, g, data, err == nil, err
}

// eventAt returns the envelope JSON of the event at seq of stream key (its
// own events only), nil when absent.
func eventAt(tx *bolt.Tx, key string, seq uint64) ([]byte, error) {
	var out []byte
	err := eachEvent(tx, key, seq, seq, func(_, _ uint64, d []byte) (bool, error) {
		out = d
		return false, nil
	})
	return out, err
}

// idxEntry is one stream index entry: (stream key, seq) -> gseq.
type idxEntry struct {
	key    string
	seq, g uint64
}

// putIndex writes index entries (those of the log records after the indexed
// mark, kept in memory since their commit).
func putIndex(tx *bolt.Tx, es []idxEntry) error {
	ix := tx.Bucket(bktIndex)
	ix.FillPercent = fillPercent
	// in key order: a stream's entries then go to its last page in a row
	slices.SortFunc(es, func(a, b idxEntry) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for _, e := range es {
		if err := ix.Put(evKey(e.key, e.seq), gkey(e.g)); err != nil {
			return err
		}
	}
	return nil
}

package journal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/lifeos/life/aios"
	"github.com/zeebo/blake3"
)

// prepared is an event encoded by the appender's goroutine, so that the
// single committer only splices in the seq and the digest: JSON encoding is
// the expensive part and runs in parallel this way.
type prepared struct {
	id     string
	key    string
	stream aios.StreamID
	branch *aios.BranchCreated // set for BranchCreated events

	// canonical bytes with "seq":0 are enc; the seq goes at seqAt, replacing
	// the "0" digit. The metadata object starts at mdAt (just after '{');
	// lo/hi are its encoded entries sorted below/above the digest key, and
	// tail is what follows the object.
	enc        []byte
	seqAt      int
	mdAt       int
	lo, hi     []byte
	tail       []byte
	fallback   *aios.EventEnvelope // set when the fast path does not apply
	canonicalN int
}

var seqMarker = []byte(`,"seq":0,"timestamp":`)

// prepare validates e and encodes it for sealing.
func prepare(e aios.EventEnvelope) (prepared, error) {
	if err := e.Validate(); err != nil {
		return prepared{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	st := aios.StreamID{Session: e.SessionID, Branch: e.BranchID}
	if err := checkStream(st); err != nil {
		return prepared{}, err
	}
	if len(e.EventID) > MaxIDLen {
		return prepared{}, fmt.Errorf("%w: event_id longer than %d bytes", ErrInvalid, MaxIDLen)
	}
	p := prepared{id: e.EventID, key: streamKey(st), stream: st}
	if bc, ok := e.Payload.(*aios.BranchCreated); ok {
		if err := checkStream(aios.StreamID{Session: e.SessionID, Branch: bc.NewBranchID}); err != nil {
			return prepared{}, fmt.Errorf("BranchCreated.new_branch_id: %w", err)
		}
		p.branch = bc
	}
	e.Seq = 0
	md := make(map[string]string, len(e.Metadata))
	for k, v := range e.Metadata {
		if k != aios.MetaDigest {
			md[k] = v
		}
	}
	e.Metadata = md
	enc, err := aios.EncodeEnvelope(e)
	if err != nil {
		return prepared{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p.enc = enc
	p.canonicalN = len(enc)
	// Fast path: locate the seq and the metadata object in the bytes aios
	// wrote. A JSON string cannot contain an unescaped quote, so the first
	// `,"seq":0,"timestamp":` is the envelope's key; the metadata object is
	// rebuilt below and must match the encoded suffix exactly, or we fall
	// back to encoding twice at seal time.
	p.seqAt = bytes.Index(enc, seqMarker)
	keys := slices.Sorted(maps.Keys(md))
	var lo, hi bytes.Buffer
	for _, k := range keys {
		w := &hi
		if k < aios.MetaDigest {
			w = &lo
		}
		if w.Len() > 0 {
			w.WriteByte(',')
		}
		writeJSONString(w, k)
		w.WriteByte(':')
		writeJSONString(w, md[k])
	}
	tail := `},"schema_version":` + strconv.Itoa(int(e.SchemaVersion)) + `}`
	var obj bytes.Buffer
	obj.WriteString(`,"metadata":{`)
	obj.Write(lo.Bytes())
	if lo.Len() > 0 && hi.Len() > 0 {
		obj.WriteByte(',')
	}
	obj.Write(hi.Bytes())
	obj.WriteString(tail)
	if p.seqAt < 0 || !bytes.HasSuffix(enc, obj.Bytes()) {
		p.fallback = &e
		return p, nil
	}
	p.seqAt += len(`,"seq":`)
	p.mdAt = len(enc) - obj.Len() + len(`,"metadata":{`)
	p.lo, p.hi, p.tail = lo.Bytes(), hi.Bytes(), []byte(tail)
	return p, nil
}

func writeJSONString(w *bytes.Buffer, s string) {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
	}
	if plain { // nothing to escape: the common case of ids and names
		w.WriteByte('"')
		w.WriteString(s)
		w.WriteByte('"')
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	w.Truncate(w.Len() - 1)
}

// seal returns the stored bytes of the event at seq, chained to prev (the
// raw previous digest, nil for none), and the new digest in hex.
//
// The stored value starts with hdr (the log record header, see logHeader).
func (p *prepared) seal(seq uint64, prev []byte, hdr []byte) (stored []byte, digest string) {
	if p.fallback != nil {
		e := *p.fallback
		e.Seq = seq
		canon, err := e.CanonicalBytes()
		if err != nil { // encoded fine in prepare; cannot differ now
			panic(fmt.Sprintf("journal: re-encode %s: %v", e.EventID, err))
		}
		d := chain(prev, canon)
		digest = hex.EncodeToString(d[:])
		e.Metadata = maps.Clone(e.Metadata)
		e.Metadata[aios.MetaDigest] = digest
		enc, err := aios.EncodeEnvelope(e)
		if err != nil {
			panic(fmt.Sprintf("journal: re-encode %s: %v", e.EventID, err))
		}
		return append(hdr, enc...), digest
	}
	var sb [20]byte
	seqText := strconv.AppendUint(sb[:0], seq, 10)
	// canonical = enc with the "0" at seqAt replaced by seqText
	// buf holds the header then the canonical bytes; the stored metadata
	// is rebuilt in place after hashing.
	h := len(hdr)
	buf := hdr
	if need := h + len(p.enc) + len(seqText) + 100; cap(buf) < need {
		buf = append(make([]byte, 0, need), hdr...)
	}
	canon := append(buf[h:], p.enc[:p.seqAt]...)
	canon = append(canon, seqText...)
	canon = append(canon, p.enc[p.seqAt+1:]...)
	d := chain(prev, canon)
	var hx [64]byte
	hex.Encode(hx[:], d[:])
	digest = string(hx[:])
	mdAt := h + p.mdAt + len(seqText) - 1
	stored = buf[:mdAt]
	stored = append(stored, p.lo...)
	if len(p.lo) > 0 {
		stored = append(stored, ',')
	}
	stored = append(stored, `"digest":"`...)
	stored = append(stored, hx[:]...)
	stored = append(stored, '"')
	if len(p.hi) > 0 {
		stored = append(stored, ',')
		stored = append(stored, p.hi...)
	}
	stored = append(stored, p.tail...)
	return stored, digest
}

// chain is Blake3(prev || canonical).
func chain(prev, canonical []byte) [32]byte {
	h := blake3.New()
	h.Write(prev)
	h.Write(canonical)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func decodeDigest(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("bad digest %q", s)
	}
	return b, nil
}

// Digest computes the chained digest of e (its canonical bytes, digest key
// excluded) after prev, the hex digest of the previous event ("" for none).
func Digest(prevHex string, e aios.EventEnvelope) (string, error) {
	prev, err := decodeDigest(prevHex)
	if err != nil {
		return "", err
	}
	canon, err := e.CanonicalBytes()
	if err != nil {
		return "", err
	}
	d := chain(prev, canon)
	return hex.EncodeToString(d[:]), nil
}

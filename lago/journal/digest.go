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
	md := e.Metadata
	if _, ok := md[aios.MetaDigest]; ok { // a copy: the caller's map is left alone
		md = maps.Clone(md)
		delete(md, aios.MetaDigest)
		e.Metadata = md
	}
	enc, err := aios.EncodeEnvelope(e)
	if err != nil {
		return prepared{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p.enc = enc
	p.canonicalN = len(enc)
	// Fast path: locate the seq and the metadata object in the bytes aios
	// wrote. A JSON string cannot contain an unescaped quote, so the first
	// `,"seq":0,"timestamp":` is the envelope's key. The metadata entries
	// sort around the digest key, which seal splices in between: lo and hi
	// are the entries below and above it, checked here against the encoded
	// suffix (else seal falls back to encoding twice).
	p.seqAt = bytes.Index(enc, seqMarker)
	var tb [40]byte
	tail := append(tb[:0], `},"schema_version":`...)
	tail = strconv.AppendUint(tail, uint64(e.SchemaVersion), 10)
	tail = append(tail, '}')
	loAt, hiAt, hiEnd, ok := matchMetadata(enc, md, len(tail))
	if p.seqAt < 0 || !ok || !bytes.HasSuffix(enc, tail) {
		p.fallback = &e
		return p, nil
	}
	p.seqAt += len(`,"seq":`)
	p.mdAt = loAt
	// Slices of enc: no copies.
	p.lo, p.hi, p.tail = enc[loAt:hiAt:hiAt], enc[hiAt:hiEnd:hiEnd], enc[hiEnd:]
	if len(p.lo) > 0 && len(p.hi) > 0 {
		p.lo = enc[loAt : hiAt-1 : hiAt-1] // without the comma between them
	}
	return p, nil
}

// metadataKey opens the envelope's metadata object in its encoding.
const metadataKey = `,"metadata":{`

// matchMetadata checks that enc ends with the metadata object of md, its
// keys sorted and compact, followed by tailLen bytes, and returns where its
// entries start (loAt), where the first entry above the digest key starts
// (hiAt, just after a separating comma when both halves have entries) and
// where the entries end (hiEnd).
func matchMetadata(enc []byte, md map[string]string, tailLen int) (loAt, hiAt, hiEnd int, ok bool) {
	var kb [8]string // arcan's events carry one to four keys
	keys := kb[:0]
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	size := 0
	var scratch bytes.Buffer // encodings of strings that need escaping
	encLen := func(s string) int {
		if plainJSON(s) {
			return len(s) + 2
		}
		scratch.Reset()
		writeJSONString(&scratch, s)
		return scratch.Len()
	}
	for i, k := range keys {
		if i > 0 {
			size++ // comma
		}
		size += encLen(k) + 1 + encLen(md[k])
	}
	hiEnd = len(enc) - tailLen
	loAt = hiEnd - size
	if loAt < len(metadataKey) || string(enc[loAt-len(metadataKey):loAt]) != metadataKey {
		return 0, 0, 0, false
	}
	at := loAt
	hiAt = -1
	for i, k := range keys {
		if i > 0 {
			if at >= hiEnd || enc[at] != ',' {
				return 0, 0, 0, false
			}
			at++
		}
		if hiAt < 0 && k > aios.MetaDigest {
			hiAt = at
		}
		if at, ok = matchJSONString(enc, at, k, &scratch); !ok || at >= hiEnd || enc[at] != ':' {
			return 0, 0, 0, false
		}
		if at, ok = matchJSONString(enc, at+1, md[k], &scratch); !ok {
			return 0, 0, 0, false
		}
	}
	if hiAt < 0 {
		hiAt = hiEnd
	}
	return loAt, hiAt, hiEnd, at == hiEnd
}

// matchJSONString reports whether s, JSON-encoded as writeJSONString does,
// is in enc at at, and returns the index after it.
func matchJSONString(enc []byte, at int, s string, scratch *bytes.Buffer) (int, bool) {
	if plainJSON(s) {
		end := at + len(s) + 2
		if end > len(enc) || enc[at] != '"' || string(enc[at+1:end-1]) != s || enc[end-1] != '"' {
			return 0, false
		}
		return end, true
	}
	scratch.Reset()
	writeJSONString(scratch, s)
	end := at + scratch.Len()
	if end > len(enc) || !bytes.Equal(enc[at:end], scratch.Bytes()) {
		return 0, false
	}
	return end, true
}

// plainJSON reports whether s encodes as itself between quotes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func writeJSONString(w *bytes.Buffer, s string) {
	if plainJSON(s) { // nothing to escape: the common case of ids and names
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
		md := make(map[string]string, len(e.Metadata)+1)
		maps.Copy(md, e.Metadata)
		md[aios.MetaDigest] = digest
		e.Metadata = md
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

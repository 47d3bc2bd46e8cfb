package aios

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"time"
)

// IDGenerator makes unique, sortable identifiers.
type IDGenerator interface {
	NewID() string
}

// ULIDs: 48 bits of milliseconds and 80 random bits, written as 26 characters
// of Crockford base32. About forty lines, so written here rather than adding
// a dependency to a module that must have none.

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ULIDGenerator makes ULIDs that are strictly increasing for one generator:
// within the same millisecond the random part is incremented, as the ULID
// spec's monotonic mode does. It is safe for concurrent use.
type ULIDGenerator struct {
	clock   Clock
	entropy io.Reader

	mu      sync.Mutex
	started bool // lastMs is set: 0 is a time too (a clock at or before 1970)
	lastMs  uint64
	last    [10]byte
}

// NewULIDGenerator returns a generator using clock (SystemClock if nil) and
// entropy (crypto/rand if nil).
func NewULIDGenerator(clock Clock, entropy io.Reader) *ULIDGenerator {
	if clock == nil {
		clock = SystemClock{}
	}
	if entropy == nil {
		entropy = rand.Reader
	}
	return &ULIDGenerator{clock: clock, entropy: entropy}
}

// NewID returns the next ULID.
func (g *ULIDGenerator) NewID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := uint64(max(g.clock.Now().UnixMilli(), 0))
	if g.started && ms <= g.lastMs {
		ms = g.lastMs // never go backwards, even if the clock does
		if !increment(&g.last) {
			ms++ // 80 bits exhausted within a millisecond: borrow the next one
			g.fill()
		}
	} else {
		g.fill()
	}
	g.started, g.lastMs = true, ms
	return encodeULID(ms, g.last)
}

func (g *ULIDGenerator) fill() {
	if _, err := io.ReadFull(g.entropy, g.last[:]); err != nil {
		// crypto/rand does not fail on supported platforms; a custom reader
		// that does still must not yield a duplicate, so fall back to time.
		binary.BigEndian.PutUint64(g.last[2:], uint64(time.Now().UnixNano()))
	}
}

func increment(b *[10]byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return true
		}
	}
	return false
}

func encodeULID(ms uint64, rnd [10]byte) string {
	var raw [16]byte
	for i := range 6 {
		raw[i] = byte(ms >> (40 - 8*i))
	}
	copy(raw[6:], rnd[:])
	// 128 bits as 26 base32 digits: the first digit carries the top 3 bits.
	hi := binary.BigEndian.Uint64(raw[:8])
	lo := binary.BigEndian.Uint64(raw[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// ErrBadULID is returned by [ParseULIDTime] for a string that is not a ULID.
var ErrBadULID = errors.New("aios: not a ULID")

// ParseULIDTime returns the millisecond timestamp embedded in a ULID.
func ParseULIDTime(id string) (time.Time, error) {
	if len(id) != 26 || id[0] > '7' {
		return time.Time{}, ErrBadULID
	}
	var ms uint64
	for i := range len(id) { // the random part must be base32 too
		c := id[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		d := strings.IndexByte(crockford, c)
		if d < 0 {
			return time.Time{}, ErrBadULID
		}
		if i < 10 {
			ms = ms<<5 | uint64(d)
		}
	}
	return time.UnixMilli(int64(ms)), nil
}

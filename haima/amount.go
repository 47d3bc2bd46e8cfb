package haima

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MicroCredits is an amount of money in millionths of a credit (one credit is
// one USD by default; USDC's atomic unit is also 10^-6, so amounts map 1:1).
type MicroCredits int64

// ErrBadAmount is matched by every amount parsing error.
var ErrBadAmount = errors.New("haima: bad amount")

// ParseAmount parses a decimal amount of credits such as "0.25", "12" or
// "-3.000001". More than six decimals, exponents, and values that do not fit
// are errors: money is never rounded silently.
func ParseAmount(s string) (MicroCredits, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || len(frac) > 6 || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%w: %s", ErrBadAmount, quote(orig))
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/1_000_000 {
		return 0, fmt.Errorf("%w: %s out of range", ErrBadAmount, quote(orig))
	}
	f, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	// Accumulate as a negative number: int64 holds one more negative value.
	v := -w * 1_000_000
	if v < math.MinInt64+f {
		return 0, fmt.Errorf("%w: %s out of range", ErrBadAmount, quote(orig))
	}
	v -= f
	if !neg {
		if v == math.MinInt64 {
			return 0, fmt.Errorf("%w: %s out of range", ErrBadAmount, quote(orig))
		}
		v = -v
	}
	return MicroCredits(v), nil
}

// quote bounds how much of an input an error message repeats: amounts come
// from outside (HTTP headers, config) and a megabyte string must not end up
// in every log line.
func quote(s string) string {
	const max = 40
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:max], len(s))
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String formats m as a decimal amount of credits with six decimals.
func (m MicroCredits) String() string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign, u = "-", uint64(-(m+1))+1 // handles math.MinInt64
	}
	return fmt.Sprintf("%s%d.%06d", sign, u/1_000_000, u%1_000_000)
}

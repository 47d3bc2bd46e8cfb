package haima

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in   string
		want MicroCredits
		err  bool
	}{
		{"0.25", 250_000, false},
		{"12", 12_000_000, false},
		{"0.000001", 1, false},
		{"-3.5", -3_500_000, false},
		{"9223372036854.775807", math.MaxInt64, false},
		{"9223372036855", 0, true},
		{"9223372036854.775808", 0, true},
		{"-9223372036854.775808", math.MinInt64, false},
		{"-9223372036854.775809", 0, true},
		{"0.0000001", 0, true}, // would need rounding
		{"1e3", 0, true},
		{"", 0, true},
		{".5", 0, true},
		{"5.", 0, true},
		{"1,5", 0, true},
		{"+1", 0, true},
		{" 1", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseAmount(tc.in)
		if tc.err {
			if !errors.Is(err, ErrBadAmount) {
				t.Errorf("ParseAmount(%q) = %v, %v; want ErrBadAmount", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseAmount(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if back, err := ParseAmount(got.String()); err != nil || back != got {
			t.Errorf("String round trip of %d: %q -> %v, %v", got, got.String(), back, err)
		}
	}
}

func TestAmountString(t *testing.T) {
	for m, want := range map[MicroCredits]string{0: "0.000000", 1: "0.000001", -1_500_000: "-1.500000", math.MinInt64: "-9223372036854.775808"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(m), got, want)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0.25", "-1", "9223372036854.775807", "1e3", ".", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseAmount(s)
		if err != nil {
			if !errors.Is(err, ErrBadAmount) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if back, err := ParseAmount(m.String()); err != nil || back != m {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, m, m.String(), back, err)
		}
	})
}

func ExampleParseAmount() {
	m, _ := ParseAmount("0.25")
	fmt.Println(int64(m), m)
	// Output: 250000 0.250000
}

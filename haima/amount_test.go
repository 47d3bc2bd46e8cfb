package haima

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"
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
		{"1 ", 0, true},
		{"-0", 0, false},
		{"-0.000000", 0, false},
		{"007.5", 7_500_000, false},
		{"0.1", 100_000, false},
		{"0.100000", 100_000, false},
		{"0.1000000", 0, true}, // seven decimals, even if the last is zero
		{"-0.0000001", 0, true},
		{strings.Repeat("0", 300) + "1.5", 1_500_000, false},
		{strings.Repeat("9", 300), 0, true},
		{"1.2.3", 0, true},
		{"--1", 0, true},
		{"-", 0, true},
		{"-.", 0, true},
		{"0x10", 0, true},
		{"1_000", 0, true},
		{"1E3", 0, true},
		{"NaN", 0, true},
		{"Inf", 0, true},
		{"١", 0, true}, // Arabic-Indic digit one
		{"1\x00", 0, true},
		{"1.\u0665", 0, true},
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

func TestParseAmountHugeInputErrorIsBounded(t *testing.T) {
	in := strings.Repeat("1", 1<<20) + "x"
	_, err := ParseAmount(in)
	if !errors.Is(err, ErrBadAmount) {
		t.Fatalf("err = %v, want ErrBadAmount", err)
	}
	if n := len(err.Error()); n > 200 {
		t.Errorf("error message is %d bytes; it repeats the whole input", n)
	}
	if !strings.Contains(err.Error(), "(1048577 bytes)") {
		t.Errorf("error %q does not say how long the input was", err)
	}
}

// JSON carries an amount as its integer micro-credits (for USDC, the atomic
// units x402 uses), exactly, at both ends of the range.
func TestAmountJSONRoundTrip(t *testing.T) {
	for _, m := range []MicroCredits{0, 1, -1, 250_000, math.MaxInt64, math.MinInt64} {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint(int64(m)); string(b) != want {
			t.Errorf("json.Marshal(%d) = %s, want %s", int64(m), b, want)
		}
		var back MicroCredits
		if err := json.Unmarshal(b, &back); err != nil || back != m {
			t.Errorf("json round trip of %d: %d, %v", int64(m), int64(back), err)
		}
	}
	// Fractions, exponents and out-of-range numbers are refused, not rounded.
	for _, in := range []string{"0.5", "1e3", "9223372036854775808", `"12"`} {
		var m MicroCredits
		if err := json.Unmarshal([]byte(in), &m); err == nil {
			t.Errorf("json.Unmarshal(%s) = %d, want an error", in, int64(m))
		}
	}
}

// amountSyntax is the grammar ParseAmount documents.
var amountSyntax = regexp.MustCompile(`^-?[0-9]+(\.[0-9]{1,6})?$`)

// FuzzParseAmount checks ParseAmount against exact big-number arithmetic:
// an input is accepted exactly when it matches the grammar and its value
// fits, and then the value is exact and survives String.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0.25", "-1", "9223372036854.775807", "-9223372036854.775808", "1e3", ".", "-", "-0", "007", "0.0000001"} {
		f.Add(s)
	}
	lo, hi := big.NewInt(math.MinInt64), big.NewInt(math.MaxInt64)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseAmount(s)
		want, fits := (*big.Int)(nil), false
		if amountSyntax.MatchString(s) {
			r, ok := new(big.Rat).SetString(s)
			if !ok {
				t.Fatalf("big.Rat cannot read %q", s)
			}
			r.Mul(r, big.NewRat(1_000_000, 1))
			want = r.Num() // six decimals at most: always an integer
			fits = want.Cmp(lo) >= 0 && want.Cmp(hi) <= 0
		}
		if err != nil {
			if !errors.Is(err, ErrBadAmount) {
				t.Fatalf("untyped error %v", err)
			}
			if fits {
				t.Fatalf("ParseAmount(%q) refused a valid amount: %v", s, err)
			}
			return
		}
		if !fits || want.Int64() != int64(m) {
			t.Fatalf("ParseAmount(%q) = %d, want %v (fits %v)", s, int64(m), want, fits)
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

func ExampleMicroCredits_String() {
	fmt.Println(MicroCredits(-1_500_000))
	_, err := ParseAmount("0.0000001")
	fmt.Println(err)
	// Output:
	// -1.500000
	// haima: bad amount: "0.0000001"
}

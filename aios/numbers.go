package aios

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Float32 is a single-precision float that encodes the way the reference
// (serde_json + ryu) writes an f32: shortest form at 32-bit precision, always
// with a decimal point (5.0, 0.0). Plain integers are accepted on input.
type Float32 float32

// Float64 is a double that always encodes with a decimal point, like serde_json.
type Float64 float64

// MarshalJSON writes f at single precision with a decimal point.
func (f Float32) MarshalJSON() ([]byte, error) { return marshalFloat(float64(f), 32) }

// MarshalJSON writes f with a decimal point.
func (f Float64) MarshalJSON() ([]byte, error) { return marshalFloat(float64(f), 64) }

func marshalFloat(f float64, bits int) ([]byte, error) {
	// encoding/json validates NaN and Inf and picks the exponent form.
	var b []byte
	var err error
	if bits == 32 {
		b, err = json.Marshal(float32(f))
	} else {
		b, err = json.Marshal(f)
	}
	if err != nil {
		return nil, err
	}
	if !strings.ContainsAny(string(b), ".eE") {
		b = append(b, '.', '0')
	}
	return b, nil
}

// UnmarshalJSON accepts any JSON number that fits.
func (f *Float32) UnmarshalJSON(b []byte) error {
	var v float32
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float32(v)
	return nil
}

// UnmarshalJSON accepts any JSON number.
func (f *Float64) UnmarshalJSON(b []byte) error {
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float64(v)
	return nil
}

// String formats f like its JSON form.
func (f Float32) String() string { return strconv.FormatFloat(float64(f), 'g', -1, 32) }

// String formats f like its JSON form.
func (f Float64) String() string { return strconv.FormatFloat(float64(f), 'g', -1, 64) }

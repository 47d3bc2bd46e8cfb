package hysteresis_test

import (
	"fmt"
	"time"

	"github.com/lifeos/life/autonomic/hysteresis"
)

// A rising signal enters "high" at 0.85 but leaves it only below 0.80 and
// after 45 s in the level, so noise around 0.85 does not flap.
func ExampleSpec_Update() {
	spec := hysteresis.Spec{Direction: hysteresis.Rising, MinDwell: 45 * time.Second,
		Levels: []hysteresis.Level{{Name: "high", Enter: 0.85, Exit: 0.80}}}
	var st hysteresis.State
	for i, v := range []float64{0.84, 0.86, 0.83, 0.86, 0.79, 0.79, 0.79} {
		now := uint64(i) * 10_000_000 // a sample every 10 s, in µs
		changed := spec.Update(&st, v, now)
		fmt.Printf("%.2f -> %s%s\n", v, spec.Name(st.Level), map[bool]string{true: " (changed)"}[changed])
	}
	// Output:
	// 0.84 -> normal
	// 0.86 -> high (changed)
	// 0.83 -> high
	// 0.86 -> high
	// 0.79 -> high
	// 0.79 -> high
	// 0.79 -> normal (changed)
}

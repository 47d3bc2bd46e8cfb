package hysteresis

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

const sec = uint64(1_000_000)

func zones() Spec {
	return Spec{Direction: Rising, MinDwell: 10 * time.Second, Levels: []Level{
		{Name: "elevated", Enter: 0.60, Exit: 0.55},
		{Name: "high", Enter: 0.85, Exit: 0.80},
		{Name: "critical", Enter: 0.95, Exit: 0.90},
	}}
}

func TestUpdate(t *testing.T) {
	type step struct {
		v     float64
		at    uint64 // seconds
		level int
	}
	tests := []struct {
		name  string
		spec  Spec
		steps []step
	}{
		{"rising enters at threshold and jumps levels", zones(), []step{
			{0.59, 0, 0}, {0.60, 1, 1}, {0.96, 2, 3},
		}},
		{"exit needs the exit threshold", zones(), []step{
			{0.61, 0, 1}, {0.57, 20, 1}, {0.549, 21, 0},
		}},
		{"dwell delays relaxing, not escalating", zones(), []step{
			{0.90, 0, 2}, {0.10, 5, 2}, {0.10, 9, 2}, {0.10, 10, 0}, {0.99, 11, 3},
		}},
		{"relax stops at the level still held", zones(), []step{
			{0.99, 0, 3}, {0.82, 30, 2}, {0.70, 60, 1},
		}},
		{"falling", Spec{Direction: Falling, Levels: []Level{
			{Name: "conserving", Enter: 24, Exit: 36}, {Name: "hustle", Enter: 4, Exit: 6}, {Name: "hibernate", Enter: 0, Exit: 0.5},
		}}, []step{
			{math.Inf(1), 0, 0}, {30, 1, 0}, {24, 2, 1}, {30, 3, 1}, {3, 4, 2}, {0, 5, 3}, {0.4, 6, 3}, {5, 7, 2}, {100, 8, 0},
		}},
		{"strict", Spec{Direction: Rising, Strict: true, Levels: []Level{{Name: "erring", Enter: 0.3, Exit: 0.15}}}, []step{
			{0.3, 0, 0}, {0.31, 1, 1},
		}},
		{"NaN changes nothing", zones(), []step{
			{0.7, 0, 1}, {math.NaN(), 100, 1},
		}},
		{"exactly at the exit threshold holds the level", zones(), []step{
			{0.60, 0, 1}, {0.55, 20, 1}, {0.5499, 21, 0},
		}},
		{"clock stepping back restarts the dwell", zones(), []step{
			{0.90, 100, 2}, {0.10, 5, 2}, {0.10, 14, 2}, {0.10, 15, 0},
		}},
		{"escalate dwell", Spec{Direction: Rising, EscalateDwell: 5 * time.Second, Levels: []Level{{Name: "on", Enter: 1, Exit: 1}}}, []step{
			{0, 0, 0}, {2, 3, 0}, {2, 5, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.spec.Validate(); err != nil {
				t.Fatal(err)
			}
			var st State
			for i, s := range tt.steps {
				tt.spec.Update(&st, s.v, s.at*sec)
				if st.Level != s.level {
					t.Fatalf("step %d (v=%v at %ds): level %d (%s), want %d", i, s.v, s.at, st.Level, tt.spec.Name(st.Level), s.level)
				}
			}
		})
	}
}

// TestNoisySignal drives a seeded random walk around a threshold, one sample
// a second, and counts level changes with and without hysteresis.
func TestNoisySignal(t *testing.T) {
	spec := Spec{Direction: Rising, MinDwell: 30 * time.Second, Levels: []Level{{Name: "high", Enter: 0.85, Exit: 0.80}}}
	plain := spec.WithoutHysteresis()
	for seed := uint64(1); seed <= 5; seed++ {
		r := rand.New(rand.NewPCG(seed, 42))
		v := 0.85
		var with, without State
		var nWith, nWithout int
		var lastChange uint64
		minHeld := uint64(math.MaxUint64)
		for i := range 10000 {
			// A walk pulled back to the threshold, with noise of ±0.02.
			v += (0.85-v)*0.1 + (r.Float64()-0.5)*0.04
			now := uint64(i) * sec
			if spec.Update(&with, v, now) {
				if nWith > 0 && with.Level == 0 {
					minHeld = min(minHeld, now-lastChange)
				}
				nWith++
				lastChange = now
			}
			if plain.Update(&without, v, now) {
				nWithout++
			}
		}
		t.Logf("seed %d: %d transitions without hysteresis, %d with", seed, nWithout, nWith)
		if nWithout < 100 {
			t.Fatalf("seed %d: the signal hardly crosses the threshold (%d); the test proves nothing", seed, nWithout)
		}
		if nWith*8 > nWithout || uint64(nWith) > 2*10000/30 {
			t.Errorf("seed %d: hysteresis cut transitions only from %d to %d", seed, nWithout, nWith)
		}
		if minHeld < 30*sec {
			t.Errorf("seed %d: a level was left after %dµs, under the dwell time", seed, minHeld)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Spec{
		{Direction: "sideways", Levels: []Level{{Name: "a", Enter: 1, Exit: 1}}},
		{Direction: Rising},
		{Direction: Rising, Levels: []Level{{Name: "a", Enter: 1, Exit: 2}}},
		{Direction: Falling, Levels: []Level{{Name: "a", Enter: 2, Exit: 1}}},
		{Direction: Rising, Levels: []Level{{Name: "a", Enter: 2, Exit: 1}, {Name: "b", Enter: 1, Exit: 0.5}}},
		{Direction: Rising, Levels: []Level{{Name: "a", Enter: 2, Exit: 1.5}, {Name: "b", Enter: 3, Exit: 1}}},
		{Direction: Rising, Levels: []Level{{Name: "", Enter: 1, Exit: 1}}},
		{Direction: Rising, Levels: []Level{{Name: "a", Enter: math.NaN(), Exit: 1}}},
		{Direction: Rising, MinDwell: -1, Levels: []Level{{Name: "a", Enter: 1, Exit: 1}}},
	}
	for i, s := range bad {
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("spec %d: err = %v", i, err)
		}
	}
	if err := zones().Validate(); err != nil {
		t.Error(err)
	}
}

func TestSpecJSON(t *testing.T) {
	b, err := json.Marshal(zones())
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.MinDwell != 10*time.Second || len(back.Levels) != 3 || back.Levels[2] != zones().Levels[2] {
		t.Errorf("round trip = %+v", back)
	}
	for _, in := range []string{`{"direction":"rising","levels":[{"name":"a","enter":1,"exit":2}],"min_dwell":"1s"}`,
		`{"direction":"rising","levels":[{"name":"a","enter":1,"exit":1}],"min_dwell":"soon"}`, `[]`,
		// Misspelt keys: the ladder would otherwise run without dwell or
		// with exit = 0.
		`{"direction":"rising","levels":[{"name":"a","enter":1,"exit":0.5}],"min_dwel":"1s"}`,
		`{"direction":"rising","levels":[{"name":"a","enter":1,"exit":0.5,"exti":0.9}],"min_dwell":"1s"}`} {
		if err := json.Unmarshal([]byte(in), &back); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}

// TestPropertyConsistent: without dwell, after every update the level is
// one the value is allowed to hold: not past the current level's exit, and
// not at the next level's enter.
func TestPropertyConsistent(t *testing.T) {
	spec := zones()
	spec.MinDwell = 0
	r := rand.New(rand.NewPCG(7, 7))
	var st State
	for i := range 20000 {
		v := r.Float64()
		spec.Update(&st, v, uint64(i))
		if st.Level > 0 && spec.left(st.Level-1, v) {
			t.Fatalf("step %d: v=%v held level %d past its exit", i, v, st.Level)
		}
		if st.Level < len(spec.Levels) && spec.entered(st.Level, v) {
			t.Fatalf("step %d: v=%v at level %d though level %d's enter is reached", i, v, st.Level, st.Level+1)
		}
	}
}

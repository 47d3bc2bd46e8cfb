// Package hysteresis keeps a noisy signal from making a mode flap. A [Spec]
// is a ladder of levels above "normal" (level 0); each level has an enter
// threshold and a looser exit threshold, and the ladder has a minimum dwell
// time. [Update] is pure: time is passed in (event timestamps, µs).
package hysteresis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Direction says which way a signal gets worse.
type Direction string

const (
	// Rising signals get worse as they grow (error rate, pressure).
	Rising Direction = "rising"
	// Falling signals get worse as they shrink (runway, budget left).
	Falling Direction = "falling"
)

// Level is one step of a ladder. For a rising signal, the level is entered
// when the value reaches Enter and left when it drops below Exit (Exit <=
// Enter); for a falling signal, the mirror image.
type Level struct {
	Name  string  `json:"name"`
	Enter float64 `json:"enter"`
	Exit  float64 `json:"exit"`
}

// Spec is a ladder of levels, least severe first.
type Spec struct {
	Direction Direction `json:"direction"`
	// Strict makes entering need a strict inequality (value > Enter for a
	// rising signal), for rules phrased "over" or "below".
	Strict bool    `json:"strict,omitempty"`
	Levels []Level `json:"levels"`
	// MinDwell is how long a level must hold before the ladder relaxes to a
	// less severe one. Escalation is immediate unless EscalateDwell is set:
	// a safety controller tightens at once and loosens with care.
	MinDwell      time.Duration `json:"-"`
	EscalateDwell time.Duration `json:"-"`
}

type specJSON struct {
	Direction     Direction `json:"direction"`
	Strict        bool      `json:"strict,omitempty"`
	Levels        []Level   `json:"levels"`
	MinDwell      string    `json:"min_dwell"`
	EscalateDwell string    `json:"escalate_dwell,omitempty"`
}

// MarshalJSON writes the dwell times as duration strings.
func (s Spec) MarshalJSON() ([]byte, error) {
	j := specJSON{Direction: s.Direction, Strict: s.Strict, Levels: s.Levels, MinDwell: s.MinDwell.String()}
	if s.EscalateDwell != 0 {
		j.EscalateDwell = s.EscalateDwell.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a spec and validates it; unknown keys are an error.
func (s *Spec) UnmarshalJSON(b []byte) error {
	var j specJSON
	// A misspelt key (say "min_dwel") would silently mean no dwell.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("hysteresis spec: %w", err)
	}
	out := Spec{Direction: j.Direction, Strict: j.Strict, Levels: j.Levels}
	var err error
	if j.MinDwell != "" {
		if out.MinDwell, err = time.ParseDuration(j.MinDwell); err != nil {
			return fmt.Errorf("hysteresis spec: min_dwell: %w", err)
		}
	}
	if j.EscalateDwell != "" {
		if out.EscalateDwell, err = time.ParseDuration(j.EscalateDwell); err != nil {
			return fmt.Errorf("hysteresis spec: escalate_dwell: %w", err)
		}
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*s = out
	return nil
}

// ErrInvalidSpec is matched by the errors of [Spec.Validate].
var ErrInvalidSpec = errors.New("hysteresis: invalid spec")

// Validate checks that the thresholds are ordered and the exits looser than
// the enters.
func (s Spec) Validate() error {
	var p []string
	if s.Direction != Rising && s.Direction != Falling {
		p = append(p, fmt.Sprintf("direction %q: want rising or falling", s.Direction))
	}
	if len(s.Levels) == 0 || len(s.Levels) > 16 {
		p = append(p, "want 1..16 levels")
	}
	if s.MinDwell < 0 || s.EscalateDwell < 0 {
		p = append(p, "dwell times must not be negative")
	}
	sign := 1.0
	if s.Direction == Falling {
		sign = -1
	}
	for i, l := range s.Levels {
		if math.IsNaN(l.Enter) || math.IsNaN(l.Exit) {
			p = append(p, fmt.Sprintf("level %d: NaN threshold", i))
			continue
		}
		if l.Name == "" {
			p = append(p, fmt.Sprintf("level %d: empty name", i))
		}
		if sign*l.Exit > sign*l.Enter {
			p = append(p, fmt.Sprintf("level %q: exit %v is past enter %v (exit must be looser)", l.Name, l.Exit, l.Enter))
		}
		if i > 0 {
			prev := s.Levels[i-1]
			if sign*l.Enter <= sign*prev.Enter {
				p = append(p, fmt.Sprintf("level %q: enter %v must be more severe than %q's %v", l.Name, l.Enter, prev.Name, prev.Enter))
			}
			if sign*l.Exit < sign*prev.Exit {
				p = append(p, fmt.Sprintf("level %q: exit %v must not be looser than %q's %v", l.Name, l.Exit, prev.Name, prev.Exit))
			}
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, strings.Join(p, "; "))
	}
	return nil
}

// WithoutHysteresis returns s with each exit equal to its enter and no
// dwell: the plain threshold controller, for comparison.
func (s Spec) WithoutHysteresis() Spec {
	out := s
	out.Levels = make([]Level, len(s.Levels))
	for i, l := range s.Levels {
		l.Exit = l.Enter
		out.Levels[i] = l
	}
	out.MinDwell, out.EscalateDwell = 0, 0
	return out
}

// State is a ladder's position: the current level (0 = normal, i = Levels[i-1])
// and since when (µs).
type State struct {
	Level int    `json:"level"`
	Since uint64 `json:"since"`
}

// entered reports whether v is at or past level i's enter threshold.
func (s *Spec) entered(i int, v float64) bool {
	e := s.Levels[i].Enter
	if s.Direction == Rising {
		if s.Strict {
			return v > e
		}
		return v >= e
	}
	if s.Strict {
		return v < e
	}
	return v <= e
}

// left reports whether v has gone back past level i's exit threshold.
func (s *Spec) left(i int, v float64) bool {
	x := s.Levels[i].Exit
	if s.Direction == Rising {
		return v < x
	}
	return v > x
}

// Update moves st for value v at time now (µs) and reports whether the level
// changed. A NaN value changes nothing. now going back before st.Since
// restarts the dwell from now: waiting for the clock to catch up again could
// hold a level for as long as the clock was wrong.
func (s *Spec) Update(st *State, v float64, now uint64) bool {
	if math.IsNaN(v) {
		return false
	}
	st.Since = min(st.Since, now)
	held := now - st.Since
	cur := st.Level
	// Escalate to the most severe level whose enter threshold is reached.
	target := cur
	for i := len(s.Levels) - 1; i >= cur; i-- {
		if s.entered(i, v) {
			target = i + 1
			break
		}
	}
	if target > cur {
		if held < uint64(s.EscalateDwell.Microseconds()) {
			return false
		}
		st.Level, st.Since = target, now
		return true
	}
	// Relax one level at a time while the value is past each exit.
	for target > 0 && s.left(target-1, v) {
		target--
	}
	if target < cur && held >= uint64(s.MinDwell.Microseconds()) {
		st.Level, st.Since = target, now
		return true
	}
	return false
}

// Name returns the name of a level, "normal" for 0.
func (s *Spec) Name(level int) string {
	if level <= 0 || level > len(s.Levels) {
		return "normal"
	}
	return s.Levels[level-1].Name
}

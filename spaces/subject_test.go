package spaces

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestChannelSubject(t *testing.T) {
	tests := []struct {
		space, channel, want string
	}{
		{"lab", "general", "spaces.msg.lab.general"},
		{"team-1", "ops_alerts", "spaces.msg.team-1.ops_alerts"},
		{"lab", "a.b", ""},      // would address a deeper subject
		{"lab", "*", ""},        // wildcard
		{"lab", ">", ""},        // wildcard
		{"", "general", ""},     // empty
		{"lab", "gen eral", ""}, // space
		{"lab", "général", ""},  // non-ASCII
		{strings.Repeat("x", 65), "c", ""},
	}
	for _, tc := range tests {
		got, err := ChannelSubject(tc.space, tc.channel)
		if tc.want == "" {
			if !errors.Is(err, ErrBadName) {
				t.Errorf("ChannelSubject(%q, %q) = %q, %v; want ErrBadName", tc.space, tc.channel, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ChannelSubject(%q, %q) = %q, %v; want %q", tc.space, tc.channel, got, err, tc.want)
		}
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"lab", "a.b", "*", ">", "", "x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		// A valid name never changes the subject's token count.
		subj, err := PresenceSubject(name)
		if err != nil || strings.Count(subj, ".") != 2 || strings.ContainsAny(subj, "*> \t") {
			t.Fatalf("valid name %q gave subject %q, %v", name, subj, err)
		}
	})
}

func ExampleChannelSubject() {
	s, _ := ChannelSubject("lab", "general")
	fmt.Println(s)
	_, err := ChannelSubject("lab", ">")
	fmt.Println(err)
	// Output:
	// spaces.msg.lab.general
	// spaces: bad name: ">" has '>' at offset 0
}

package spaces

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
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
		{strings.Repeat("x", 64), "c", "spaces.msg." + strings.Repeat("x", 64) + ".c"},
		{"AZaz09-_", "c", "spaces.msg.AZaz09-_.c"},
		{"lab", "", ""},
		{"lab", "a*", ""},    // NATS reads it literally; still refused
		{"lab", "$JS", ""},   // reserved NATS prefix character
		{"lab", "tab\t", ""}, // whitespace ends a NATS token
		{"lab", "nl\n", ""},
		{"lab", "nul\x00", ""},
		{"lab", "del\x7f", ""},
		{"lab", "\xff", ""}, // invalid UTF-8
		{"lab", "a/b", ""},
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

func TestPresenceSubject(t *testing.T) {
	for _, tc := range []struct{ space, want string }{
		{"lab", "spaces.presence.lab"},
		{"Lab", "spaces.presence.Lab"}, // NATS subjects are case-sensitive, and so are names
		{"", ""},
		{"a.b", ""},
		{">", ""},
	} {
		got, err := PresenceSubject(tc.space)
		if tc.want == "" {
			if !errors.Is(err, ErrBadName) {
				t.Errorf("PresenceSubject(%q) = %q, %v; want ErrBadName", tc.space, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("PresenceSubject(%q) = %q, %v; want %q", tc.space, got, err, tc.want)
		}
	}
}

func TestValidateNameHugeInputErrorIsBounded(t *testing.T) {
	for _, in := range []string{strings.Repeat("a", 1<<20), "." + strings.Repeat("a", 1<<20)} {
		err := ValidateName(in)
		if !errors.Is(err, ErrBadName) {
			t.Fatalf("err = %v, want ErrBadName", err)
		}
		if n := len(err.Error()); n > 300 {
			t.Errorf("error message is %d bytes; it repeats the whole name", n)
		}
	}
}

// natsLiteralSubject mirrors the NATS server's rules for a subject one may
// publish to (server/sublist.go: IsValidSubject, which refuses whitespace,
// empty tokens and invalid UTF-8, and IsValidLiteralSubject, which refuses
// wildcard tokens).
func natsLiteralSubject(subj string) bool {
	if subj == "" || !utf8.ValidString(subj) || strings.ContainsAny(subj, " \t\n\r\f") {
		return false
	}
	for _, tok := range strings.Split(subj, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
	}
	return true
}

// FuzzChannelSubject checks that any two accepted names give a literal NATS
// subject outside the server's reserved prefixes, from which the names read
// back unchanged: no name can reach another space's or channel's traffic.
func FuzzChannelSubject(f *testing.F) {
	for _, s := range [][2]string{{"lab", "general"}, {"lab", "a.b"}, {"*", "x"}, {"lab", ">"}, {"", "c"}, {"$JS", "API"}, {"_INBOX", "x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, space, channel string) {
		subj, err := ChannelSubject(space, channel)
		valid := ValidateName(space) == nil && ValidateName(channel) == nil
		if err != nil {
			if !errors.Is(err, ErrBadName) || valid {
				t.Fatalf("ChannelSubject(%q, %q): %v", space, channel, err)
			}
			return
		}
		if !valid {
			t.Fatalf("ChannelSubject(%q, %q) = %q for an invalid name", space, channel, subj)
		}
		if !natsLiteralSubject(subj) || strings.HasPrefix(subj, "$") || strings.HasPrefix(subj, "_INBOX.") {
			t.Fatalf("ChannelSubject(%q, %q) = %q, not a plain literal NATS subject", space, channel, subj)
		}
		if toks := strings.Split(subj, "."); len(toks) != 4 || toks[0] != "spaces" || toks[1] != "msg" || toks[2] != space || toks[3] != channel {
			t.Fatalf("ChannelSubject(%q, %q) = %q does not read back", space, channel, subj)
		}
	})
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
		if err != nil || strings.Count(subj, ".") != 2 || !natsLiteralSubject(subj) {
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

func ExamplePresenceSubject() {
	s, _ := PresenceSubject("lab")
	fmt.Println(s)
	// Output: spaces.presence.lab
}

func ExampleValidateName() {
	fmt.Println(ValidateName("ops_alerts"))
	fmt.Println(ValidateName("a.b"))
	// Output:
	// <nil>
	// spaces: bad name: "a.b" has '.' at offset 1
}

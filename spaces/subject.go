package spaces

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadName is matched by every name validation error.
var ErrBadName = errors.New("spaces: bad name")

// maxNameLen keeps subjects well under NATS's default max payload header sizes.
const maxNameLen = 64

// ValidateName checks a space or channel name: 1-64 characters of ASCII
// letters, digits, '-' and '_'. Dots, '*' and '>' are excluded because they
// are NATS subject separators and wildcards.
func ValidateName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: %s must be 1-%d characters", ErrBadName, quote(name), maxNameLen)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("%w: %s has %q at offset %d", ErrBadName, quote(name), c, i)
		}
	}
	return nil
}

// quote bounds how much of a name an error repeats: names come from other
// agents, and a megabyte name must not end up in every log line.
func quote(s string) string {
	const max = 2 * maxNameLen
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:max], len(s))
}

// ChannelSubject is the NATS subject that carries messages of one channel.
func ChannelSubject(space, channel string) (string, error) {
	return subject("msg", space, channel)
}

// PresenceSubject is the NATS subject for presence beats in a space.
func PresenceSubject(space string) (string, error) {
	return subject("presence", space)
}

func subject(kind string, names ...string) (string, error) {
	for _, n := range names {
		if err := ValidateName(n); err != nil {
			return "", err
		}
	}
	return "spaces." + kind + "." + strings.Join(names, "."), nil
}

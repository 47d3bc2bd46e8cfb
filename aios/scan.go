package aios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// A small validating scanner over JSON objects. encoding/json decodes into a
// map of raw values by validating the whole input, then validates each value
// again when it is decoded; an envelope's payload went through that three
// times. The scanner splits an object into its members in one validating
// pass and hands the raw values to the field decoders. It is written here
// because aios takes no dependencies; FuzzScanMatchesEncodingJSON keeps it
// in agreement with encoding/json on what is valid.

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

// member is one key and its raw value; both alias the scanned input.
type member struct {
	key []byte // unescaped only when the key had escapes
	val []byte
}

var errSyntax = errors.New("invalid JSON")

func syntaxErr(data []byte, i int, what string) error {
	if i >= len(data) {
		return fmt.Errorf("%w: unexpected end of input (%s)", errSyntax, what)
	}
	return fmt.Errorf("%w: unexpected %q at offset %d (%s)", errSyntax, data[i], i, what)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// objectMembers splits the JSON object data (optionally surrounded by white
// space) into its members, appending them to buf. A value that is not an
// object, or anything after it, is an error.
func objectMembers(data []byte, buf []member) ([]member, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		if i < len(data) {
			if _, err := skipValue(data, i, 0); err == nil {
				return nil, errNotObject
			}
		}
		return nil, syntaxErr(data, i, "want an object")
	}
	ms, end, err := scanObject(data, i, 0, buf)
	if err != nil {
		return nil, err
	}
	if end = skipSpace(data, end); end != len(data) {
		return nil, syntaxErr(data, end, "after the top-level value")
	}
	return ms, nil
}

var errNotObject = errors.New("not a JSON object")

// scanObject scans the object starting at data[i] == '{' and returns its
// members (when buf is not nil) and the offset after it.
func scanObject(data []byte, i, depth int, buf []member) ([]member, int, error) {
	if depth >= maxDepth {
		return nil, 0, fmt.Errorf("%w: nested too deeply", errSyntax)
	}
	collect := buf != nil
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return buf, i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return nil, 0, syntaxErr(data, i, "want a key")
		}
		kStart := i
		end, escaped, err := skipString(data, i)
		if err != nil {
			return nil, 0, err
		}
		key := data[kStart+1 : end-1]
		if collect && (escaped || !utf8.Valid(key)) {
			// encoding/json's unescaping, which also replaces invalid UTF-8.
			var s string
			if err := json.Unmarshal(data[kStart:end], &s); err != nil {
				return nil, 0, fmt.Errorf("%w: key: %w", errSyntax, err)
			}
			key = []byte(s)
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, 0, syntaxErr(data, i, "want ':'")
		}
		i = skipSpace(data, i+1)
		vStart := i
		if i, err = skipValue(data, i, depth+1); err != nil {
			return nil, 0, err
		}
		if collect {
			buf = append(buf, member{key: key, val: data[vStart:i]})
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return nil, 0, syntaxErr(data, i, "in object")
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return buf, i + 1, nil
		default:
			return nil, 0, syntaxErr(data, i, "want ',' or '}'")
		}
	}
}

// skipValue validates the value starting at data[i] and returns the offset
// after it.
func skipValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return 0, syntaxErr(data, i, "want a value")
	}
	switch c := data[i]; {
	case c == '{':
		_, end, err := scanObject(data, i, depth, nil)
		return end, err
	case c == '[':
		return skipArray(data, i, depth)
	case c == '"':
		end, _, err := skipString(data, i)
		return end, err
	case c == 't':
		return skipLiteral(data, i, "true")
	case c == 'f':
		return skipLiteral(data, i, "false")
	case c == 'n':
		return skipLiteral(data, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(data, i)
	}
	return 0, syntaxErr(data, i, "want a value")
}

func skipArray(data []byte, i, depth int) (int, error) {
	if depth >= maxDepth {
		return 0, fmt.Errorf("%w: nested too deeply", errSyntax)
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = skipValue(data, i, depth+1); err != nil {
			return 0, err
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, syntaxErr(data, i, "in array")
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, syntaxErr(data, i, "want ',' or ']'")
		}
	}
}

// skipString validates the string starting at data[i] == '"' and returns
// the offset after its closing quote and whether it has escapes. Like
// encoding/json, it does not reject invalid UTF-8 (decoding replaces it).
func skipString(data []byte, i int) (int, bool, error) {
	escaped := false
	for i++; i < len(data); i++ {
		// plain bytes first: one table load in the common case
		for i < len(data) && plainStringByte[data[i]] {
			i++
		}
		if i >= len(data) {
			break
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c < 0x20:
			return 0, false, syntaxErr(data, i, "control character in string")
		case c == '\\':
			escaped = true
			i++
			if i >= len(data) {
				return 0, false, syntaxErr(data, i, "in escape")
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for k := 1; k <= 4; k++ {
					if i+k >= len(data) || !isHex(data[i+k]) {
						return 0, false, syntaxErr(data, i+k, "in \\u escape")
					}
				}
				i += 4
			default:
				return 0, false, syntaxErr(data, i, "bad escape")
			}
		}
	}
	return 0, false, syntaxErr(data, i, "unterminated string")
}

// plainStringByte marks the bytes a JSON string holds as they are: not a
// quote, a backslash or a control character. Read only.
var plainStringByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func skipLiteral(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return 0, syntaxErr(data, i, "want "+lit)
	}
	return i + len(lit), nil
}

// skipNumber follows the JSON number grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func skipNumber(data []byte, i int) (int, error) {
	digits := func(i int) int {
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i
	}
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = digits(i + 1)
	default:
		return 0, syntaxErr(data, i, "in number")
	}
	if i < len(data) && data[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, syntaxErr(data, j, "want a digit after '.'")
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, syntaxErr(data, j, "want a digit in the exponent")
		}
		i = j
	}
	return i, nil
}

// membersOfValid splits an object that an earlier scan has validated (a
// value inside a validated document) into its members, only looking for
// where things end. ok is false when a key has escapes or non-ASCII bytes:
// objectMembers then gives the keys as encoding/json decodes them.
func membersOfValid(data []byte, buf []member) (ms []member, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return buf, true
	}
	for i < len(data) && data[i] == '"' {
		end := endOfValidString(data, i)
		key := data[i+1 : end-1]
		for _, c := range key {
			if c == '\\' || c >= utf8.RuneSelf {
				return nil, false
			}
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipSpace(data, i+1)
		vStart := i
		i = endOfValidValue(data, i)
		buf = append(buf, member{key: key, val: data[vStart:i]})
		i = skipSpace(data, i)
		if i >= len(data) {
			return nil, false
		}
		if data[i] == '}' {
			return buf, true
		}
		i = skipSpace(data, i+1) // the ','
	}
	return nil, false
}

// endOfValidValue returns the offset after the valid JSON value at data[i].
func endOfValidValue(data []byte, i int) int {
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		return endOfValidString(data, i)
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				i = endOfValidString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for ; i < len(data); i++ { // a number or a literal
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// endOfValidString returns the offset after the valid JSON string at
// data[i] == '"': the first quote not escaped by an odd run of backslashes.
func endOfValidString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			break
		}
		j += k
		n := 0
		for b := j - 1; b > i && data[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
	}
	return len(data)
}

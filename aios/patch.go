package aios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ErrVersionConflict is returned when a patch's base version is not the
// state's current version: the patch was computed against another state.
var ErrVersionConflict = errors.New("aios: state version conflict")

// ErrBadPath is returned for a JSON pointer that is malformed or does not
// resolve where the op needs it to.
var ErrBadPath = errors.New("aios: bad state path")

// State is the canonical state document of a session and its version. The
// document is plain decoded JSON (map[string]any, []any, json.Number, string,
// bool, nil); numbers stay json.Number so they survive exactly.
type State struct {
	Version uint64
	Doc     any
}

// NewState returns version 0 of an empty object document.
func NewState() *State { return &State{Doc: map[string]any{}} }

// Tombstone is what a tombstone op leaves at its path: the value is gone from
// the projection, the fact that it was forgotten is not.
func tombstoneValue(reason, replacedBy string) map[string]any {
	t := map[string]any{"reason": reason}
	if replacedBy != "" {
		t["replaced_by"] = replacedBy
	}
	return map[string]any{"$tombstone": t}
}

// Apply applies p to s if p.BaseVersion is s.Version, all ops or none, and
// then increments the version.
func (s *State) Apply(p StatePatch) error {
	if p.BaseVersion != s.Version {
		return fmt.Errorf("%w: patch base %d, state at %d", ErrVersionConflict, p.BaseVersion, s.Version)
	}
	if s.Version == math.MaxUint64 {
		// the next version would wrap to 0 and let stale patches apply again
		return fmt.Errorf("%w: state at the last version %d", ErrVersionConflict, s.Version)
	}
	doc, err := ApplyOps(s.Doc, p.Ops)
	if err != nil {
		return err
	}
	s.Doc = doc
	s.Version++
	return nil
}

// MarshalJSON writes the document.
func (s *State) MarshalJSON() ([]byte, error) { return json.Marshal(s.Doc) }

// ApplyOps applies ops in order and returns the new document. doc itself is
// never modified: each op copies only the objects and arrays on its path and
// shares the rest, so a failing op leaves no partial change and older
// versions of the state stay valid. Treat documents as immutable.
func ApplyOps(doc any, ops []PatchOp) (any, error) {
	for i, op := range ops {
		var err error
		doc, err = applyOp(doc, op)
		if err != nil {
			return nil, fmt.Errorf("op %d (%s %q): %w", i, op.Op, op.Path, err)
		}
	}
	return doc, nil
}

func applyOp(doc any, op PatchOp) (any, error) {
	if err := checkDepth(op); err != nil {
		return nil, err
	}
	switch op.Op {
	case OpSet:
		v, err := decodeValue(op.Value)
		if err != nil {
			return nil, err
		}
		return setPath(doc, op.Path, v)
	case OpMerge:
		patch, err := decodeValue(op.Object)
		if err != nil {
			return nil, err
		}
		cur, _ := getPath(doc, op.Path)
		return setPath(doc, op.Path, mergePatch(cur, patch))
	case OpAppend:
		cur, err := getPath(doc, op.Path)
		var arr []any
		switch c := cur.(type) {
		case nil:
			if err == nil {
				return nil, fmt.Errorf("%w: append to null", ErrBadPath)
			}
		case []any:
			arr = slices.Clip(c) // the append below must not write into a shared array
		default:
			return nil, fmt.Errorf("%w: append to a %T", ErrBadPath, cur)
		}
		for _, raw := range op.Values {
			v, err := decodeValue(raw)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if arr == nil {
			arr = []any{}
		}
		return setPath(doc, op.Path, arr)
	case OpTombstone:
		if _, err := getPath(doc, op.Path); err != nil {
			return nil, err
		}
		return setPath(doc, op.Path, tombstoneValue(op.Reason, op.ReplacedBy))
	case OpSetRef:
		if op.BlobRef == nil {
			return nil, errors.New("set_ref without blob_ref")
		}
		raw, err := json.Marshal(op.BlobRef)
		if err != nil {
			return nil, err
		}
		ref, _ := decodeValue(raw)
		return setPath(doc, op.Path, map[string]any{"$ref": ref})
	}
	return nil, fmt.Errorf("unknown op %q", op.Op)
}

// checkDepth refuses an op that would nest the document deeper than JSON
// decoders read back (encoding/json stops at maxDepth): the state would
// apply once and then never decode again, from a snapshot or anywhere else.
func checkDepth(op PatchOp) error {
	depth := strings.Count(op.Path, "/") // one container per token
	switch op.Op {
	case OpSet:
		depth += jsonDepth(op.Value)
	case OpMerge:
		depth += jsonDepth(op.Object)
	case OpAppend:
		vd := 0
		for _, v := range op.Values {
			vd = max(vd, jsonDepth(v))
		}
		depth += 1 + vd
	case OpTombstone:
		depth += 2
	case OpSetRef:
		depth += 2
		if op.BlobRef != nil {
			depth += jsonDepth(op.BlobRef.Meta)
		}
	}
	if depth > maxDepth {
		return fmt.Errorf("%w: the document would nest %d deep, more than %d", ErrBadPath, depth, maxDepth)
	}
	return nil
}

// jsonDepth is the nesting depth of the JSON value raw (0 for a scalar).
func jsonDepth(raw []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			i = endOfValidString(raw, i) - 1
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}

func decodeValue(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return v, nil
}

// splitPointer parses an RFC 6901 JSON pointer into unescaped tokens.
func splitPointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%w: %q does not start with /", ErrBadPath, p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(t, "~0", ""), "~1", ""), "~") {
			return nil, fmt.Errorf("%w: bad escape in %q", ErrBadPath, t)
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

func getPath(doc any, path string) (any, error) {
	toks, err := splitPointer(path)
	if err != nil {
		return nil, err
	}
	cur := doc
	for _, t := range toks {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, fmt.Errorf("%w: %q not found", ErrBadPath, t)
			}
			cur = v
		case []any:
			i, err := arrayIndex(t, len(c))
			if err != nil || i == len(c) {
				return nil, fmt.Errorf("%w: index %q out of range", ErrBadPath, t)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%w: %q is inside a %T", ErrBadPath, t, cur)
		}
	}
	return cur, nil
}

// setPath sets the value at path, creating missing objects on the way.
// Array tokens are an index or "-" (append).
func setPath(doc any, path string, v any) (any, error) {
	toks, err := splitPointer(path)
	if err != nil {
		return nil, err
	}
	return setTokens(doc, toks, v)
}

func setTokens(cur any, toks []string, v any) (any, error) {
	if len(toks) == 0 {
		return v, nil
	}
	t, rest := toks[0], toks[1:]
	switch c := cur.(type) {
	case nil:
		child, err := setTokens(nil, rest, v)
		if err != nil {
			return nil, err
		}
		return map[string]any{t: child}, nil
	case map[string]any:
		child, err := setTokens(c[t], rest, v)
		if err != nil {
			return nil, err
		}
		m := maps.Clone(c)
		m[t] = child
		return m, nil
	case []any:
		i, err := arrayIndex(t, len(c))
		if err != nil {
			return nil, err
		}
		if i == len(c) {
			if len(rest) > 0 {
				return nil, fmt.Errorf("%w: cannot descend past the end of an array", ErrBadPath)
			}
			return append(slices.Clip(c), v), nil
		}
		child, err := setTokens(c[i], rest, v)
		if err != nil {
			return nil, err
		}
		a := slices.Clone(c)
		a[i] = child
		return a, nil
	default:
		return nil, fmt.Errorf("%w: %q is inside a %T", ErrBadPath, t, cur)
	}
}

func arrayIndex(t string, n int) (int, error) {
	if t == "-" {
		return n, nil
	}
	i, err := strconv.Atoi(t)
	// RFC 6901: digits only, no sign, no leading zero
	if err != nil || t[0] < '0' || t[0] > '9' || i > n || (len(t) > 1 && t[0] == '0') {
		return 0, fmt.Errorf("%w: array index %q (length %d)", ErrBadPath, t, n)
	}
	return i, nil
}

// mergePatch applies an RFC 7386 merge patch to target.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if ok {
		tm = maps.Clone(tm)
	} else {
		tm = map[string]any{}
	}
	for k, pv := range pm {
		if pv == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], pv)
	}
	return tm
}

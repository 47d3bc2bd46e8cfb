// Package skills discovers SKILL.md files (YAML front matter with name,
// description and optional fields such as allowed-tools and version, then a
// markdown body) under configured directories, validates and indexes them by
// name, and loads bodies on demand. A bad file is reported with its path and
// line; the others still load.
package skills

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"
)

// FileName is the name of a skill file.
const FileName = "SKILL.md"

// maxFile caps a skill file's size.
const maxFile = 1 << 20

// ErrInvalid is matched by every *LoadError.
var ErrInvalid = errors.New("skills: invalid skill")

// LoadError names the file and line (1-based, 0 when unknown) of a problem.
type LoadError struct {
	File string
	Line int
	Msg  string
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *LoadError) Is(target error) bool { return target == ErrInvalid }

// Skill is one indexed skill; the body is loaded on demand.
type Skill struct {
	Name         string         `json:"name"`
	Description  string         `json:"description"`
	AllowedTools []string       `json:"allowed_tools,omitempty"`
	Version      string         `json:"version,omitempty"`
	License      string         `json:"license,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"` // other front matter keys
	Path         string         `json:"path"`
	Source       string         `json:"source"` // the Source label it came from
}

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	yamlLineRe = regexp.MustCompile(`line (\d+)`)
)

// Parse reads a SKILL.md: it returns the skill and the body. Line numbers
// in errors count from the top of the file.
func Parse(file string, data []byte) (Skill, string, error) {
	bad := func(line int, format string, a ...any) (Skill, string, error) {
		return Skill{}, "", &LoadError{File: file, Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	if len(data) > maxFile {
		return bad(0, "larger than %d bytes", maxFile)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) == 0 || strings.TrimRight(lines[0], "\r\n") != "---" {
		return bad(1, "missing front matter: the file must start with a line \"---\"")
	}
	end := -1
	for i := 1; i < len(lines); i++ {
		if strings.TrimRight(lines[i], "\r\n") == "---" {
			end = i
			break
		}
	}
	if end < 0 {
		return bad(1, "front matter is not closed by a line \"---\"")
	}
	front := strings.Join(lines[1:end], "")
	body := strings.Join(lines[end+1:], "")
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(front), &doc); err != nil {
		line := 0
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			line++ // the opening "---"
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = yamlLineRe.ReplaceAllString(msg, "")
		msg = strings.TrimLeft(msg, ": ")
		return bad(line, "front matter: %s", msg)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return bad(2, "front matter must be a YAML mapping")
	}
	m := doc.Content[0]
	s := Skill{Path: file}
	seen := map[string]bool{}
	lineOf := func(n *yaml.Node) int { return n.Line + 1 }
	str := func(k, v *yaml.Node) (string, error) {
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return "", &LoadError{File: file, Line: lineOf(v), Msg: fmt.Sprintf("%s must be a string", k.Value)}
		}
		return v.Value, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if seen[k.Value] {
			return bad(lineOf(k), "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "name":
			s.Name, err = str(k, v)
		case "description":
			s.Description, err = str(k, v)
		case "version":
			s.Version, err = str(k, v)
		case "license":
			s.License, err = str(k, v)
		case "allowed-tools", "allowed_tools":
			s.AllowedTools, err = toolList(file, k, v)
		default:
			var val any
			if derr := v.Decode(&val); derr != nil {
				return bad(lineOf(v), "%s: %v", k.Value, derr)
			}
			// Skills travel as JSON: keys that are not strings, or .nan,
			// would make every encoding of this skill fail later.
			if _, jerr := json.Marshal(val); jerr != nil {
				return bad(lineOf(k), "%s: not representable as JSON (mapping keys must be strings): %v", k.Value, jerr)
			}
			if s.Metadata == nil {
				s.Metadata = map[string]any{}
			}
			s.Metadata[k.Value] = val
		}
		if err != nil {
			return Skill{}, "", err
		}
		switch k.Value {
		case "name":
			if !nameRe.MatchString(s.Name) || len(s.Name) > 64 {
				return bad(lineOf(v), "name %q must be lowercase letters, digits and single hyphens, at most 64 characters", s.Name)
			}
		case "description":
			if strings.TrimSpace(s.Description) == "" || len(s.Description) > 1024 {
				return bad(lineOf(v), "description must be non-empty and at most 1024 characters")
			}
		}
	}
	if s.Name == "" {
		return bad(2, "missing required field name")
	}
	if s.Description == "" {
		return bad(2, "missing required field description")
	}
	return s, body, nil
}

// toolList accepts a YAML list or a comma/space separated string.
func toolList(file string, k, v *yaml.Node) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		return strings.FieldsFunc(v.Value, func(r rune) bool { return r == ',' || r == ' ' }), nil
	case yaml.SequenceNode:
		var out []string
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode || it.Value == "" {
				return nil, &LoadError{File: file, Line: it.Line + 1, Msg: k.Value + " entries must be non-empty strings"}
			}
			out = append(out, it.Value)
		}
		return out, nil
	}
	return nil, &LoadError{File: file, Line: v.Line + 1, Msg: k.Value + " must be a list of tool names"}
}

// Source is a directory to search, with a label (workspace, user, ...).
// Earlier sources win when two define the same name.
type Source struct {
	Dir   string
	Label string
}

// Registry indexes skills by name.
type Registry struct {
	byName map[string]Skill
}

// maxDepth bounds the search below a source dir (dir/name/SKILL.md is 2).
const maxDepth = 4

// Load discovers and parses every SKILL.md under the sources. It returns
// the registry of the good ones and one error per bad or shadowed file; a
// missing source directory is not an error.
func Load(sources ...Source) (*Registry, []error) {
	r := &Registry{byName: map[string]Skill{}}
	var errs []error
	for _, src := range sources {
		root := filepath.Clean(src.Dir)
		var files []string
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == root && errors.Is(err, fs.ErrNotExist) {
					return fs.SkipAll
				}
				errs = append(errs, &LoadError{File: p, Msg: err.Error()})
				return nil
			}
			if d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				if rel != "." && (strings.Count(rel, string(filepath.Separator))+1 >= maxDepth || strings.HasPrefix(d.Name(), ".") && p != root) {
					return fs.SkipDir
				}
				return nil
			}
			if d.Name() == FileName && d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("skills: walk %s: %w", root, err))
		}
		sort.Strings(files)
		for _, f := range files {
			data, err := readSkill(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s, _, err := Parse(f, data)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.Source = src.Label
			if prev, dup := r.byName[s.Name]; dup {
				errs = append(errs, &LoadError{File: f, Msg: fmt.Sprintf("skill %q is shadowed by %s", s.Name, prev.Path)})
				continue
			}
			r.byName[s.Name] = s
		}
	}
	return r, errs
}

// List returns every skill, sorted by name.
func (r *Registry) List() []Skill {
	out := make([]Skill, 0, len(r.byName))
	for _, s := range r.byName {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Skill) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Get finds a skill by name.
func (r *Registry) Get(name string) (Skill, bool) {
	s, ok := r.byName[name]
	return s, ok
}

// Search returns skills whose name or description contains every word of
// query (case-insensitive), name matches first.
func (r *Registry) Search(query string) []Skill {
	words := strings.Fields(strings.ToLower(query))
	type hit struct {
		s     Skill
		score int
	}
	var hits []hit
	for _, s := range r.List() {
		name, desc := strings.ToLower(s.Name), strings.ToLower(s.Description)
		score := 0
		for _, w := range words {
			switch {
			case strings.Contains(name, w):
				score += 2
			case strings.Contains(desc, w):
				score++
			default:
				score = -1
			}
			if score < 0 {
				break
			}
		}
		if score >= 0 {
			hits = append(hits, hit{s, score})
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return b.score - a.score })
	out := make([]Skill, len(hits))
	for i, h := range hits {
		out[i] = h.s
	}
	return out
}

// Body reads a skill's markdown body from disk (it may have changed since
// Load; the front matter is parsed again).
func (r *Registry) Body(name string) (string, error) {
	s, ok := r.byName[name]
	if !ok {
		return "", fmt.Errorf("skills: %q: not found", name)
	}
	data, err := readSkill(s.Path)
	if err != nil {
		return "", fmt.Errorf("skills: %q: %w", name, err)
	}
	_, body, err := Parse(s.Path, data)
	return body, err
}

// readSkill reads a skill file that is still a regular file of at most
// maxFile bytes. The file may have changed since the walk saw it: a FIFO
// would block the open (hence O_NONBLOCK) and a symlink could point anywhere
// (hence O_NOFOLLOW).
func readSkill(file string) ([]byte, error) {
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &LoadError{File: file, Msg: err.Error()}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &LoadError{File: file, Msg: err.Error()}
	}
	if !fi.Mode().IsRegular() {
		return nil, &LoadError{File: file, Msg: "not a regular file"}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, &LoadError{File: file, Msg: err.Error()}
	}
	if len(data) > maxFile {
		return nil, &LoadError{File: file, Msg: fmt.Sprintf("larger than %d bytes", maxFile)}
	}
	return data, nil
}

// DefaultSources are the workspace's .skills dir, then the user's
// ~/.life/skills (when the home dir is known): workspace skills win.
func DefaultSources(workspace string) []Source {
	src := []Source{{Dir: filepath.Join(workspace, ".skills"), Label: "workspace"}}
	if home, err := os.UserHomeDir(); err == nil {
		src = append(src, Source{Dir: filepath.Join(home, ".life", "skills"), Label: "user"})
	}
	return src
}

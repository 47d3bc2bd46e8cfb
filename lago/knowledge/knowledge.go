// Package knowledge indexes markdown notes with YAML front matter and
// [[wikilinks]]: BM25 full-text search and a link graph walked breadth
// first. An Index is kept in step with a session's workspace by Sync, which
// applies the difference between two manifests of the session filesystem,
// so it follows the journal's file events.
package knowledge

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"

	"gopkg.in/yaml.v3"
)

// ErrFrontMatter is matched when a note's front matter is not valid YAML.
var ErrFrontMatter = errors.New("knowledge: bad front matter")

// Doc is one parsed note.
type Doc struct {
	ID    string         `json:"id"` // workspace path
	Title string         `json:"title"`
	Meta  map[string]any `json:"meta,omitempty"`
	Tags  []string       `json:"tags,omitempty"`
	Links []string       `json:"links,omitempty"` // wikilink targets as written (without alias or heading)
	Body  string         `json:"-"`
}

// Parse reads a markdown note: optional front matter between --- lines
// (YAML), a title (front matter "title", else the first # heading, else the
// file name), tags (front matter "tags") and [[wikilinks]].
func Parse(id string, content []byte) (Doc, error) {
	d := Doc{ID: id}
	body := content
	if bytes.HasPrefix(body, []byte("---\n")) || bytes.HasPrefix(body, []byte("---\r\n")) {
		rest := body[bytes.IndexByte(body, '\n')+1:]
		end := -1
		for off := 0; off < len(rest); {
			nl := bytes.IndexByte(rest[off:], '\n')
			line := rest[off:]
			if nl >= 0 {
				line = rest[off : off+nl]
			}
			if t := bytes.TrimRight(line, "\r"); string(t) == "---" || string(t) == "..." {
				end = off
				if nl >= 0 {
					body = rest[off+nl+1:]
				} else {
					body = nil
				}
				break
			}
			if nl < 0 {
				break
			}
			off += nl + 1
		}
		if end < 0 {
			return d, fmt.Errorf("%w: %s: no closing ---", ErrFrontMatter, id)
		}
		if err := yaml.Unmarshal(rest[:end], &d.Meta); err != nil {
			return d, fmt.Errorf("%w: %s: %v", ErrFrontMatter, id, err)
		}
	}
	if t, ok := d.Meta["title"].(string); ok {
		d.Title = t
	}
	switch tags := d.Meta["tags"].(type) {
	case []any:
		for _, t := range tags {
			if s, ok := t.(string); ok {
				d.Tags = append(d.Tags, s)
			}
		}
	case string:
		d.Tags = append(d.Tags, strings.FieldsFunc(tags, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })...)
	}
	d.Body = string(body)
	if d.Title == "" {
		for _, line := range strings.Split(d.Body, "\n") {
			if strings.HasPrefix(line, "# ") {
				d.Title = strings.TrimSpace(line[2:])
				break
			}
		}
	}
	if d.Title == "" {
		d.Title = strings.TrimSuffix(path.Base(id), path.Ext(id))
	}
	d.Links = WikiLinks(d.Body)
	return d, nil
}

// WikiLinks returns the distinct targets of [[target]], [[target|alias]]
// and [[target#heading]] links, in order of appearance.
func WikiLinks(s string) []string {
	var out []string
	seen := map[string]bool{}
	for {
		i := strings.Index(s, "[[")
		if i < 0 {
			return out
		}
		s = s[i+2:]
		j := strings.Index(s, "]]")
		if j < 0 {
			return out
		}
		inner := s[:j]
		s = s[j+2:]
		if k := strings.LastIndex(inner, "[["); k >= 0 {
			inner = inner[k+2:]
		}
		if strings.ContainsAny(inner, "\n") {
			continue
		}
		if k := strings.IndexAny(inner, "|#"); k >= 0 {
			inner = inner[:k]
		}
		inner = strings.TrimSpace(inner)
		if inner != "" && !seen[normKey(inner)] {
			seen[normKey(inner)] = true
			out = append(out, inner)
		}
	}
}

func normKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Tokens lowercases s and splits it into words of letters and digits.
func Tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

var stop = map[string]bool{"a": true, "an": true, "and": true, "the": true, "of": true, "to": true, "in": true, "is": true, "it": true, "for": true, "on": true, "with": true, "as": true, "by": true, "at": true, "or": true, "be": true, "this": true, "that": true}

// BM25 parameters (the usual defaults).
const (
	k1 = 1.2
	b  = 0.75
	// titleBoost counts title words this many times.
	titleBoost = 3
)

// Index is an in-memory BM25 index and link graph. Safe for concurrent use.
type Index struct {
	mu       sync.RWMutex
	docs     map[string]*Doc
	lens     map[string]int
	total    int
	postings map[string]map[string]int // term -> doc -> tf
	byKey    map[string]string         // normalised title / file stem -> doc id
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{docs: map[string]*Doc{}, lens: map[string]int{}, postings: map[string]map[string]int{}, byKey: map[string]string{}}
}

// Add indexes d, replacing a doc with the same ID.
func (ix *Index) Add(d Doc) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeLocked(d.ID)
	terms := map[string]int{}
	n := 0
	count := func(s string, w int) {
		for _, t := range Tokens(s) {
			if !stop[t] {
				terms[t] += w
				n += w
			}
		}
	}
	count(d.Title, titleBoost)
	count(strings.Join(d.Tags, " "), 2)
	count(d.Body, 1)
	for t, tf := range terms {
		if ix.postings[t] == nil {
			ix.postings[t] = map[string]int{}
		}
		ix.postings[t][d.ID] = tf
	}
	dc := d
	ix.docs[d.ID] = &dc
	ix.lens[d.ID] = n
	ix.total += n
	ix.byKey[normKey(d.Title)] = d.ID
	ix.byKey[normKey(strings.TrimSuffix(path.Base(d.ID), path.Ext(d.ID)))] = d.ID
	ix.byKey[normKey(strings.TrimSuffix(d.ID, path.Ext(d.ID)))] = d.ID
}

// Remove drops a doc.
func (ix *Index) Remove(id string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeLocked(id)
}

func (ix *Index) removeLocked(id string) {
	if _, ok := ix.docs[id]; !ok {
		return
	}
	for t, m := range ix.postings {
		delete(m, id)
		if len(m) == 0 {
			delete(ix.postings, t)
		}
	}
	for k, v := range ix.byKey {
		if v == id {
			delete(ix.byKey, k)
		}
	}
	ix.total -= ix.lens[id]
	delete(ix.lens, id)
	delete(ix.docs, id)
}

// Len is the number of docs.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.docs)
}

// Doc returns a doc by ID.
func (ix *Index) Doc(id string) (Doc, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	d, ok := ix.docs[id]
	if !ok {
		return Doc{}, false
	}
	return *d, true
}

// Hit is one search result.
type Hit struct {
	ID    string  `json:"id"`
	Title string  `json:"title"`
	Score float64 `json:"score"`
}

// Search returns the top limit docs for query by BM25 (ties by ID).
func (ix *Index) Search(query string, limit int) []Hit {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := float64(len(ix.docs))
	if n == 0 {
		return nil
	}
	avg := float64(ix.total) / n
	scores := map[string]float64{}
	seen := map[string]bool{}
	for _, t := range Tokens(query) {
		if stop[t] || seen[t] {
			continue
		}
		seen[t] = true
		post := ix.postings[t]
		df := float64(len(post))
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		for id, tf := range post {
			f := float64(tf)
			dl := float64(ix.lens[id])
			scores[id] += idf * f * (k1 + 1) / (f + k1*(1-b+b*dl/avg))
		}
	}
	hits := make([]Hit, 0, len(scores))
	for id, s := range scores {
		hits = append(hits, Hit{ID: id, Title: ix.docs[id].Title, Score: s})
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID < hits[j].ID
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	return hits
}

// Resolve maps a wikilink target to a doc ID (by title, file stem or path,
// case-insensitively); ok is false for a missing page.
func (ix *Index) Resolve(target string) (string, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	id, ok := ix.byKey[normKey(target)]
	return id, ok
}

// Node is one doc reached by Traverse.
type Node struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Depth int    `json:"depth"`
	From  string `json:"from,omitempty"` // the doc it was reached from
}

// Traverse walks links breadth first from start (a doc ID or link target)
// to depth (0: only start). With backlinks it also follows links into a doc.
// Missing pages are skipped. Order: by depth, then by link order.
func (ix *Index) Traverse(start string, depth int, backlinks bool) ([]Node, error) {
	id, ok := ix.docID(start)
	if !ok {
		return nil, fmt.Errorf("knowledge: no doc %q", start)
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var back map[string][]string
	if backlinks {
		back = map[string][]string{}
		for _, did := range slices.Sorted(mapsKeys(ix.docs)) {
			for _, l := range ix.docs[did].Links {
				if to, ok := ix.byKey[normKey(l)]; ok {
					back[to] = append(back[to], did)
				}
			}
		}
	}
	out := []Node{{ID: id, Title: ix.docs[id].Title}}
	seen := map[string]bool{id: true}
	frontier := []string{id}
	for d := 1; d <= depth && len(frontier) > 0; d++ {
		var next []string
		for _, cur := range frontier {
			var nbrs []string
			for _, l := range ix.docs[cur].Links {
				if to, ok := ix.byKey[normKey(l)]; ok {
					nbrs = append(nbrs, to)
				}
			}
			nbrs = append(nbrs, back[cur]...)
			for _, to := range nbrs {
				if !seen[to] {
					seen[to] = true
					out = append(out, Node{ID: to, Title: ix.docs[to].Title, Depth: d, From: cur})
					next = append(next, to)
				}
			}
		}
		frontier = next
	}
	return out, nil
}

func (ix *Index) docID(s string) (string, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if _, ok := ix.docs[s]; ok {
		return s, true
	}
	id, ok := ix.byKey[normKey(s)]
	return id, ok
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// MissingLinks lists link targets that resolve to no doc, per doc.
func (ix *Index) MissingLinks() map[string][]string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := map[string][]string{}
	for id, d := range ix.docs {
		for _, l := range d.Links {
			if _, ok := ix.byKey[normKey(l)]; !ok {
				out[id] = append(out[id], l)
			}
		}
	}
	return out
}

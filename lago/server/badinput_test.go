package server

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/lago/blob"
	"github.com/lifeos/life/lago/policy"
)

// TestBadInput sends what an attacker or a buggy client would to every
// handler: each answer is the given 4xx with a JSON error, and nothing of
// it is stored (heads, the policy stream and the blob directory unchanged).
func TestBadInput(t *testing.T) {
	e := newEnv(t, Config{MaxBody: 64 << 10})
	e.must(201, "POST", "/v1/sessions", `{"session_id":"s"}`)
	e.must(201, "POST", "/v1/sessions/s/events", msg("m2", "two"))
	e.must(201, "PUT", "/v1/sessions/s/files/notes/a.md", "# A\nabout [[B]]")
	e.must(201, "POST", "/v1/sessions/s/branches", `{"name":"alt","at_seq":2}`)
	e.must(201, "POST", "/v1/sessions", `{"session_id":"s2"}`)
	big := strings.Repeat("x", 65<<10)
	huge := `{"session_id":"` + strings.Repeat("y", 1<<20) + `"}`
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		code                     int
	}{
		// events
		{"after negative", "GET", "/v1/sessions/s/events?after=-1", "", nil, 400},
		{"after overflows", "GET", "/v1/sessions/s/events?after=18446744073709551616", "", nil, 400},
		{"after not a number", "GET", "/v1/sessions/s/events?after=1e3", "", nil, 400},
		{"until garbage", "GET", "/v1/sessions/s/events?until=x", "", nil, 400},
		{"limit negative", "GET", "/v1/sessions/s/events?limit=-5", "", nil, 400},
		{"limit too large", "GET", "/v1/sessions/s/events?limit=99999999", "", nil, 400},
		{"read format", "GET", "/v1/sessions/s/events?format=csv", "", nil, 400},
		{"seq negative", "GET", "/v1/sessions/s/events/-1", "", nil, 400},
		{"seq overflows", "GET", "/v1/sessions/s/events/99999999999999999999", "", nil, 400},
		{"seq zero", "GET", "/v1/sessions/s/events/0", "", nil, 404},
		{"seq max", "GET", "/v1/sessions/s/events/18446744073709551615", "", nil, 404},
		{"branch with NUL", "GET", "/v1/sessions/s/events?branch=a%00b", "", nil, 400},
		{"append not json", "POST", "/v1/sessions/s/events", `{"payload":`, nil, 400},
		{"append trailing data", "POST", "/v1/sessions/s/events", msg("t1", "x") + " {}", nil, 400},
		{"append array with null", "POST", "/v1/sessions/s/events", "[" + msg("t2", "x") + ",null]", nil, 400},
		{"append negative seq", "POST", "/v1/sessions/s/events", `{"seq":-1,"payload":{"type":"UserMessage","content":"x"}}`, nil, 400},
		{"append over MaxBody", "POST", "/v1/sessions/s/events", `{"payload":{"type":"UserMessage","content":"` + big + `"}}`, nil, 413},
		{"append event id past 32 KiB", "POST", "/v1/sessions/s/events", `{"event_id":"` + strings.Repeat("i", 40<<10) + `","payload":{"type":"UserMessage","content":"x"}}`, nil, 400},
		{"append file write with bad mode", "POST", "/v1/sessions/s/events", `{"payload":{"type":"FileWrite","path":"p","blob_hash":"h","size_bytes":1,"mode":"x"}}`, nil, 400},
		{"append event id of another session", "POST", "/v1/sessions/s2/events", msg("m2", "two"), nil, 409},
		{"append bad fork point", "POST", "/v1/sessions/s/events", `{"payload":{"type":"BranchCreated","new_branch_id":"b","fork_point_seq":99,"name":"b"}}`, nil, 400},
		// SSE
		{"sse format", "GET", "/v1/sessions/s/events/stream?format=OpenAI", "", nil, 400},
		{"sse after negative", "GET", "/v1/sessions/s/events/stream?after=-3", "", nil, 400},
		{"last-event-id garbage", "GET", "/v1/sessions/s/events/stream", "", []string{"Last-Event-ID", "garbage"}, 400},
		{"last-event-id negative", "GET", "/v1/sessions/s/events/stream", "", []string{"Last-Event-ID", "-1"}, 400},
		{"last-event-id overflows", "GET", "/v1/sessions/s/events/stream", "", []string{"Last-Event-ID", "18446744073709551616"}, 400},
		{"last-event-id with suffix", "GET", "/v1/sessions/s/events/stream", "", []string{"Last-Event-ID", "2:1"}, 400},
		// reserved session: the policy engine's stream takes no writes
		{"create reserved session", "POST", "/v1/sessions", `{"session_id":"lago.system"}`, nil, 400},
		{"branch reserved session", "POST", "/v1/sessions/lago.system/branches", `{"name":"x"}`, nil, 400},
		{"merge reserved session", "POST", "/v1/sessions/lago.system/branches/x/merge", `{}`, nil, 400},
		{"file in reserved session", "PUT", "/v1/sessions/lago.system/files/a", "x", nil, 400},
		{"delete in reserved session", "DELETE", "/v1/sessions/lago.system/files/a", "", nil, 400},
		{"snapshot reserved session", "POST", "/v1/sessions/lago.system/snapshots", `{}`, nil, 400},
		// request bodies
		{"session not json", "POST", "/v1/sessions", `{`, nil, 400},
		{"session trailing data", "POST", "/v1/sessions", `{"session_id":"n"} {}`, nil, 400},
		{"session id with NUL", "POST", "/v1/sessions", `{"session_id":"a\u0000b"}`, nil, 400},
		{"session body too large", "POST", "/v1/sessions", huge, nil, 413},
		{"branch name not a string", "POST", "/v1/sessions/s/branches", `{"name":1}`, nil, 400},
		{"branch fork past head", "POST", "/v1/sessions/s/branches", `{"name":"b","at_seq":18446744073709551615}`, nil, 400},
		{"branch fork negative", "POST", "/v1/sessions/s/branches", `{"name":"b","at_seq":-1}`, nil, 400},
		{"branch without name", "POST", "/v1/sessions/s/branches", `{}`, nil, 400},
		{"merge not json", "POST", "/v1/sessions/s/branches/alt/merge", `[`, nil, 400},
		{"merge into itself", "POST", "/v1/sessions/s/branches/alt/merge", `{"into":"alt"}`, nil, 400},
		{"merge missing source", "POST", "/v1/sessions/s/branches/nope/merge", `{}`, nil, 404},
		{"grant bad role", "POST", "/v1/sessions/s/grants", `{"principal":"p","role":"god"}`, nil, 400},
		{"snapshot negative seq", "POST", "/v1/sessions/s/snapshots", `{"seq":-1}`, nil, 400},
		{"snapshot past head", "POST", "/v1/sessions/s/snapshots", `{"seq":99}`, nil, 400},
		{"snapshot missing stream", "POST", "/v1/sessions/s/snapshots", `{"branch":"nope"}`, nil, 404},
		// session filesystem paths
		{"file dot-dot", "PUT", "/v1/sessions/s/files/..%2F..%2Fetc%2Fpasswd", "x", nil, 400},
		{"file inner dot-dot", "PUT", "/v1/sessions/s/files/notes%2F..%2F..%2Fx", "x", nil, 400},
		{"file NUL", "PUT", "/v1/sessions/s/files/a%00b", "x", nil, 400},
		{"file absolute", "PUT", "/v1/sessions/s/files/%2Fetc%2Fpasswd", "x", nil, 400},
		{"file backslash", "PUT", "/v1/sessions/s/files/..%5Cx", "x", nil, 400},
		{"file mode negative", "PUT", "/v1/sessions/s/files/m?mode=-1", "x", nil, 400},
		{"file mode too large", "PUT", "/v1/sessions/s/files/m?mode=512", "x", nil, 400},
		{"read file dot-dot", "GET", "/v1/sessions/s/files/..%2Fjournal.db", "", nil, 400},
		{"read file seq garbage", "GET", "/v1/sessions/s/files/notes/a.md?seq=x", "", nil, 400},
		{"delete dot-dot", "DELETE", "/v1/sessions/s/files/..%2Fx", "", nil, 400},
		{"delete missing", "DELETE", "/v1/sessions/s/files/nope", "", nil, 404},
		{"list missing stream", "GET", "/v1/sessions/nope/files", "", nil, 404},
		{"list seq garbage", "GET", "/v1/sessions/s/files?seq=-1", "", nil, 400},
		{"diff missing branch", "GET", "/v1/sessions/s/diff?to_branch=nope", "", nil, 404},
		{"diff missing session", "GET", "/v1/sessions/nope/diff", "", nil, 404},
		{"diff to_seq garbage", "GET", "/v1/sessions/s/diff?to_seq=x", "", nil, 400},
		// blobs
		{"blob dot-dot", "GET", "/v1/blobs/..%2F..%2Fjournal.db", "", nil, 400},
		{"blob upper hex", "GET", "/v1/blobs/" + strings.ToUpper(blob.Hash([]byte("x"))), "", nil, 400},
		{"blob short", "GET", "/v1/blobs/abc", "", nil, 400},
		{"blob put dot-dot", "PUT", "/v1/blobs/..%2Fx", "x", nil, 400},
		{"blob put mismatch", "PUT", "/v1/blobs/" + blob.Hash([]byte("x")), "not x", nil, 400},
		// knowledge
		{"search without q", "GET", "/v1/sessions/s/knowledge/search", "", nil, 400},
		{"search limit", "GET", "/v1/sessions/s/knowledge/search?q=a&limit=101", "", nil, 400},
		{"search missing stream", "GET", "/v1/sessions/nope/knowledge/search?q=a", "", nil, 404},
		{"traverse depth", "GET", "/v1/sessions/s/knowledge/traverse?from=A&depth=11", "", nil, 400},
		{"traverse depth negative", "GET", "/v1/sessions/s/knowledge/traverse?from=A&depth=-1", "", nil, 400},
		{"traverse backlinks", "GET", "/v1/sessions/s/knowledge/traverse?from=A&backlinks=yes", "", nil, 400},
		{"traverse missing stream", "GET", "/v1/sessions/nope/knowledge/traverse?from=A", "", nil, 404},
	}
	heads := func() string {
		return e.must(200, "GET", "/v1/sessions/s/branches", "") +
			e.must(200, "GET", "/v1/sessions/"+policy.SystemStream.Session+"/head", "")
	}
	blobs := func() int {
		n := 0
		filepath.WalkDir(filepath.Join(e.st.Dir, "blobs"), func(_ string, d os.DirEntry, _ error) error {
			if d != nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	h0, b0 := heads(), blobs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b, _ := e.do(tt.method, tt.path, tt.body, tt.hdr...)
			if code != tt.code || !strings.Contains(b, `"error"`) {
				t.Fatalf("%d (want %d) %s", code, tt.code, b)
			}
		})
	}
	if h := heads(); h != h0 {
		t.Fatalf("bad input changed the journal:\n%s\nwas\n%s", h, h0)
	}
	if n := blobs(); n != b0 {
		t.Fatalf("bad input stored blobs: %d files, was %d", n, b0)
	}
}

// TestReadFormat: format= picks JSON or NDJSON; without it the Accept header does.
func TestReadFormat(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(201, "POST", "/v1/sessions", `{"session_id":"s"}`)
	e.must(201, "POST", "/v1/sessions/s/events", msg("m2", "two"))
	for _, tc := range []struct{ query, accept, ctype string }{
		{"", "", "application/json"},
		{"", "application/x-ndjson", "application/x-ndjson"},
		{"?format=ndjson", "", "application/x-ndjson"},
		{"?format=json", "application/x-ndjson", "application/json"},
	} {
		code, body, h := e.do("GET", "/v1/sessions/s/events"+tc.query, "", "Accept", tc.accept)
		if code != 200 || h.Get("Content-Type") != tc.ctype || (tc.ctype == "application/json") != strings.HasPrefix(body, "[") {
			t.Errorf("%q Accept %q: %d %s %q", tc.query, tc.accept, code, h.Get("Content-Type"), body)
		}
	}
}

// TestSSEResumeFromPastHead: a Last-Event-ID (or after) at or past the head,
// up to the largest seq, resumes with live events only; it never replays.
func TestSSEResumeFromPastHead(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(201, "POST", "/v1/sessions", `{"session_id":"s"}`)
	e.must(201, "POST", "/v1/sessions/s/events", msg("m2", "two"))
	for _, tc := range []struct{ name, query, lastID string }{
		{"last-event-id max", "", "18446744073709551615"},
		{"after max", "?after=18446744073709551615", ""},
		{"last-event-id at head", "", "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/sessions/s/events/stream"+tc.query, nil)
			if tc.lastID != "" {
				req.Header.Set("Last-Event-ID", tc.lastID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body) // ends at the deadline
			if resp.StatusCode != 200 || strings.Contains(string(b), "id: ") || !strings.Contains(string(b), ": keep-alive") {
				t.Fatalf("%d %q", resp.StatusCode, b)
			}
		})
	}
}

// TestCreateSessionRace: of many concurrent creates of one id, one wins
// (201) and the rest are 409; the session holds one SessionCreated.
func TestCreateSessionRace(t *testing.T) {
	e := newEnv(t, Config{})
	codes := make(chan int, 16)
	var wg sync.WaitGroup
	for range cap(codes) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := e.do("POST", "/v1/sessions", `{"session_id":"race"}`)
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for c := range codes {
		n[c]++
	}
	if n[201] != 1 || n[409] != cap(codes)-1 {
		t.Fatalf("answers %v", n)
	}
	if h := e.must(200, "GET", "/v1/sessions/race/head", ""); !strings.Contains(h, `"head":1`) {
		t.Fatalf("head %s", h)
	}
}

package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/blob"
	"github.com/lifeos/life/lago/policy"
	"github.com/lifeos/life/lago/store"
)

type env struct {
	t   *testing.T
	srv *httptest.Server
	st  *store.Store
	tok string
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = st
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 50 * time.Millisecond
	}
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		st.Close()
	})
	return &env{t: t, srv: srv, st: st}
}

func (e *env) do(method, path, body string, hdr ...string) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if e.tok != "" {
		req.Header.Set("Authorization", "Bearer "+e.tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (e *env) must(code int, method, path, body string) string {
	e.t.Helper()
	got, b, _ := e.do(method, path, body)
	if got != code {
		e.t.Fatalf("%s %s: %d (want %d): %s", method, path, got, code, b)
	}
	return b
}

func msg(id, text string) string {
	return fmt.Sprintf(`{"event_id":%q,"timestamp":1700000000000000,"payload":{"type":"UserMessage","content":%q}}`, id, text)
}

func TestSessionsAndEvents(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(201, "POST", "/v1/sessions", `{"session_id":"s1","name":"demo"}`)
	e.must(409, "POST", "/v1/sessions", `{"session_id":"s1"}`)
	out := e.must(201, "POST", "/v1/sessions/s1/events", "["+msg("a", "one")+","+msg("b", "two")+"]")
	if !strings.Contains(out, `"seqs":[2,3]`) {
		t.Fatalf("append %s", out)
	}
	e.must(201, "POST", "/v1/sessions/s1/events", `{"payload":{"type":"Message","role":"assistant","content":"filled in"}}`)
	body := e.must(200, "GET", "/v1/sessions/s1/events?after=1&limit=2", "")
	var evs []aios.EventEnvelope
	if err := json.Unmarshal([]byte(body), &evs); err != nil || len(evs) != 2 || evs[0].EventID != "a" {
		t.Fatalf("read %s %v", body, err)
	}
	nd := e.must(200, "GET", "/v1/sessions/s1/events?format=ndjson", "")
	if lines := strings.Split(strings.TrimSpace(nd), "\n"); len(lines) != 4 {
		t.Fatalf("ndjson lines %d", len(lines))
	}
	if h := e.must(200, "GET", "/v1/sessions/s1/head", ""); !strings.Contains(h, `"head":4`) {
		t.Fatalf("head %s", h)
	}
	if one := e.must(200, "GET", "/v1/sessions/s1/events/3", ""); !strings.Contains(one, `"event_id":"b"`) {
		t.Fatalf("by seq %s", one)
	}
	e.must(404, "GET", "/v1/sessions/s1/events/99", "")
	e.must(400, "GET", "/v1/sessions/s1/events/x", "")
	if l := e.must(200, "GET", "/v1/sessions", ""); !strings.Contains(l, `"s1"`) || strings.Contains(l, "lago.system") {
		t.Fatalf("list %s", l)
	}
	bad := []struct {
		name, method, path, body string
		code                     int
	}{
		{"malformed kind", "POST", "/v1/sessions/s1/events", `{"event_id":"x","timestamp":1,"payload":{"type":"UserMessage"}}`, 400},
		{"not json", "POST", "/v1/sessions/s1/events", `{`, 400},
		{"empty array", "POST", "/v1/sessions/s1/events", `[]`, 400},
		{"other session", "POST", "/v1/sessions/s1/events", `{"session_id":"s2","payload":{"type":"UserMessage","content":"x"}}`, 400},
		{"reserved session", "POST", "/v1/sessions/lago.system/events", msg("z", "x"), 400},
		{"bad after", "GET", "/v1/sessions/s1/events?after=-1", "", 400},
		{"forged grant", "POST", "/v1/sessions/s1/events", `{"payload":{"type":"Custom","event_type":"lago.acl_granted","data":{"session":"s1","principal":"me","role":"owner"}}}`, 400},
		{"bad format", "GET", "/v1/sessions/s1/events?format=xml", "", 400},
		{"missing stream", "GET", "/v1/sessions/nope/events", "", 404},
		{"unknown body field", "POST", "/v1/sessions", `{"session_id":"x","bogus":1}`, 400},
		{"bad sse format", "GET", "/v1/sessions/s1/events/stream?format=grpc", "", 400},
		{"bad last-event-id", "GET", "/v1/sessions/s1/events/stream", "", 400},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{}
			if tt.name == "bad last-event-id" {
				hdr = []string{"Last-Event-ID", "x"}
			}
			code, b, _ := e.do(tt.method, tt.path, tt.body, hdr...)
			if code != tt.code || !strings.Contains(b, `"error"`) {
				t.Fatalf("%d %s", code, b)
			}
		})
	}
	// nothing from the rejected requests was stored
	if h := e.must(200, "GET", "/v1/sessions/s1/head", ""); !strings.Contains(h, `"head":4`) {
		t.Fatalf("head after bad input %s", h)
	}
	if m := e.must(200, "GET", "/metrics", ""); !strings.Contains(m, "lago_events_appended_total") || !strings.Contains(m, `code="400"`) {
		t.Fatalf("metrics %s", m)
	}
	e.must(200, "GET", "/healthz", "")
}

func TestBranches(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(201, "POST", "/v1/sessions", `{"session_id":"s"}`)
	e.must(201, "POST", "/v1/sessions/s/events", msg("m2", "two"))
	e.must(201, "POST", "/v1/sessions/s/branches", `{"name":"alt","at_seq":1}`)
	e.must(201, "POST", "/v1/sessions/s/events?branch=alt", msg("a2", "alt two"))
	body := e.must(200, "GET", "/v1/sessions/s/events?branch=alt", "")
	var evs []aios.EventEnvelope
	json.Unmarshal([]byte(body), &evs)
	if len(evs) != 2 || evs[1].EventID != "a2" || evs[1].Seq != 2 {
		t.Fatalf("alt reads %s", body)
	}
	if b := e.must(200, "GET", "/v1/sessions/s/branches", ""); !strings.Contains(b, `"branch":"alt","parent":"main","fork_point":1,"head":2`) {
		t.Fatalf("branches %s", b)
	}
	e.must(201, "POST", "/v1/sessions/s/branches/alt/merge", `{"into":"main"}`)
	e.must(400, "POST", "/v1/sessions/s/branches", `{"name":"bad","at_seq":99}`)
	e.must(404, "POST", "/v1/sessions/s/branches", `{"name":"x","from":"nope"}`)
	e.must(400, "POST", "/v1/sessions/s/branches/alt/merge", `{"into":"alt"}`)
}

func TestBlobsAndFiles(t *testing.T) {
	e := newEnv(t, Config{})
	data := "hello blob"
	h := blob.Hash([]byte(data))
	e.must(201, "PUT", "/v1/blobs/"+h, data)
	if got := e.must(200, "GET", "/v1/blobs/"+h, ""); got != data {
		t.Fatalf("blob %q", got)
	}
	e.must(400, "PUT", "/v1/blobs/"+blob.Hash([]byte("other")), "mismatched "+data)
	if e.st.Blobs.Has(blob.Hash([]byte("mismatched " + data))) {
		t.Fatal("a PUT whose bytes do not match its hash stored them")
	}
	e.must(400, "GET", "/v1/blobs/xyz", "")
	e.must(404, "GET", "/v1/blobs/"+blob.Hash([]byte("absent")), "")
	out := e.must(201, "POST", "/v1/blobs", "posted")
	if !strings.Contains(out, blob.Hash([]byte("posted"))) {
		t.Fatalf("post %s", out)
	}
	// a corrupted blob is never served as complete
	p := filepath.Join(e.st.Dir, "blobs", h[:2], h[2:])
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 1
	os.WriteFile(p, b, 0o600)
	resp, err := http.Get(e.srv.URL + "/v1/blobs/" + h)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("corrupt blob read completed without error")
	}

	e.must(201, "PUT", "/v1/sessions/s/files/notes/a.md", "# Alpha\nabout [[Beta]] and databases")
	e.must(201, "PUT", "/v1/sessions/s/files/notes/b.md", "# Beta\nabout cooking")
	if got := e.must(200, "GET", "/v1/sessions/s/files/notes/a.md?seq=1", ""); !strings.HasPrefix(got, "# Alpha") {
		t.Fatalf("file %q", got)
	}
	if l := e.must(200, "GET", "/v1/sessions/s/files", ""); !strings.Contains(l, "notes/b.md") {
		t.Fatalf("files %s", l)
	}
	if s := e.must(200, "GET", "/v1/sessions/s/knowledge/search?q=databases", ""); !strings.Contains(s, `"id":"notes/a.md"`) {
		t.Fatalf("search %s", s)
	}
	if s := e.must(200, "GET", "/v1/sessions/s/knowledge/traverse?from=Alpha&depth=1", ""); !strings.Contains(s, "notes/b.md") {
		t.Fatalf("traverse %s", s)
	}
	e.must(201, "POST", "/v1/sessions/s/snapshots", `{"seq":1}`)
	e.must(201, "POST", "/v1/sessions/s/branches", `{"name":"early","at_seq":1}`)
	if d := e.must(200, "GET", "/v1/sessions/s/diff?to_branch=early", ""); !strings.Contains(d, `"path":"notes/b.md","kind":"removed"`) {
		t.Fatalf("diff %s", d)
	}
	if d := e.must(200, "GET", "/v1/sessions/s/diff?seq=1&to_seq=2", ""); !strings.Contains(d, `"path":"notes/b.md","kind":"added"`) {
		t.Fatalf("diff by seq %s", d)
	}
	e.must(404, "POST", "/v1/sessions/nope/snapshots", `{}`)
	e.must(200, "DELETE", "/v1/sessions/s/files/notes/b.md", "")
	if s := e.must(200, "GET", "/v1/sessions/s/knowledge/search?q=cooking", ""); strings.Contains(s, "b.md") {
		t.Fatalf("deleted note found %s", s)
	}
	e.must(404, "GET", "/v1/sessions/s/files/notes/b.md", "")
	e.must(400, "GET", "/v1/sessions/s/knowledge/search", "")
	e.must(404, "GET", "/v1/sessions/s/knowledge/traverse?from=nope", "")
}

// readSSE reads messages until n ids were seen or the stream ends.
func readSSE(t *testing.T, body io.Reader, n int) (ids []string, datas []string) {
	t.Helper()
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			ids = append(ids, v)
			if len(ids) == n {
				return
			}
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			datas = append(datas, v)
		}
	}
	return
}

func TestSSEResumeNoLossNoDup(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(201, "POST", "/v1/sessions", `{"session_id":"s"}`)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // appender running during the whole test
		defer wg.Done()
		for i := range 60 {
			e.must(201, "POST", "/v1/sessions/s/events", msg(fmt.Sprint("e", i), "x"))
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var seen []string
	last := ""
	for len(seen) < 61 {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/sessions/s/events/stream", nil)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
			t.Fatalf("stream %d %v", resp.StatusCode, resp.Header)
		}
		ids, _ := readSSE(t, resp.Body, min(7, 61-len(seen))) // drop the connection every 7 events
		resp.Body.Close()
		seen = append(seen, ids...)
		if len(ids) > 0 {
			last = ids[len(ids)-1]
		}
	}
	wg.Wait()
	for i, id := range seen {
		if id != fmt.Sprint(i+1) {
			t.Fatalf("ids %v: position %d is %s", seen, i, id)
		}
	}
}

func TestSSEChatFormatsEndAfterRun(t *testing.T) {
	e := newEnv(t, Config{})
	run := []string{
		`{"run_id":"r","payload":{"type":"RunStarted","provider":"mock","max_iterations":2}}`,
		`{"run_id":"r","payload":{"type":"AssistantTextDelta","delta":"hi "}}`,
		`{"run_id":"r","payload":{"type":"AssistantTextDelta","delta":"there"}}`,
		`{"run_id":"r","payload":{"type":"RunFinished","reason":"completed","total_iterations":1}}`,
	}
	e.must(201, "POST", "/v1/sessions/s/events", "["+strings.Join(run, ",")+"]")
	for _, f := range []string{"openai", "anthropic", "vercel"} {
		t.Run(f, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/sessions/s/events/stream?format="+f, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body) // ends by itself after the run
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "there") {
				t.Fatalf("%s stream: %s", f, b)
			}
			if f == "vercel" && resp.Header.Get("x-vercel-ai-ui-message-stream") != "v1" {
				t.Fatal("vercel header missing")
			}
		})
	}
}

// ---- auth: a real ES256 check, for tests only ----

// es256Verifier verifies compact ES256 JWTs signed by known keys (by kid),
// with exp, nbf and aud checks.
type es256Verifier struct {
	keys map[string]*ecdsa.PublicKey
	now  func() time.Time
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (v *es256Verifier) Verify(_ context.Context, token, audience string) (aios.TokenClaims, error) {
	fail := func(why string) (aios.TokenClaims, error) {
		return aios.TokenClaims{}, fmt.Errorf("%w: %s", aios.ErrUnauthorized, why)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fail("not a compact JWS")
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || len(sig) != 64 {
		return fail("bad encoding")
	}
	var hdr struct{ Alg, Kid string }
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "ES256" {
		return fail("alg must be ES256")
	}
	key, ok := v.keys[hdr.Kid]
	if !ok {
		return fail("unknown kid")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(key, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return fail("bad signature")
	}
	var c struct {
		aios.TokenClaims
		Aud any `json:"aud"`
	}
	if json.Unmarshal(cb, &c) != nil {
		return fail("bad claims")
	}
	now := v.now().Unix()
	if c.ExpiresAt == 0 || now >= c.ExpiresAt {
		return fail("expired")
	}
	if c.NotBefore != 0 && now < c.NotBefore {
		return fail("not yet valid")
	}
	switch a := c.Aud.(type) {
	case string:
		c.Audience = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				c.Audience = append(c.Audience, s)
			}
		}
	}
	if !slices.Contains(c.Audience, audience) {
		return fail("wrong audience")
	}
	c.TokenClaims.DID = hdr.Kid
	return c.TokenClaims, nil
}

func sign(t *testing.T, key *ecdsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": kid})
	c, _ := json.Marshal(claims)
	in := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b64(sig)
}

func TestAuthAndPolicy(t *testing.T) {
	alice, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bob, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	v := &es256Verifier{keys: map[string]*ecdsa.PublicKey{"did:key:alice": &alice.PublicKey, "did:key:bob": &bob.PublicKey}, now: time.Now}
	e := newEnv(t, Config{Verifier: v, Quotas: policy.Quotas{EventsPerMinute: 5, BlobBytes: 20}})
	claims := func(sub string, exp time.Time, aud any) map[string]any {
		return map[string]any{"iss": sub, "sub": sub, "aud": aud, "iat": now.Unix(), "exp": exp.Unix(), "jti": "j"}
	}
	aliceTok := sign(t, alice, "did:key:alice", claims("did:key:alice", now.Add(time.Hour), "lagod"))
	bobTok := sign(t, bob, "did:key:bob", claims("did:key:bob", now.Add(time.Hour), []string{"x", "lagod"}))

	// 401: never data
	unauth := []struct{ name, tok string }{
		{"no token", ""},
		{"garbage", "abc.def.ghi"},
		{"expired", sign(t, alice, "did:key:alice", claims("did:key:alice", now.Add(-time.Minute), "lagod"))},
		{"wrong audience", sign(t, alice, "did:key:alice", claims("did:key:alice", now.Add(time.Hour), "other"))},
		{"unknown key", sign(t, stranger, "did:key:alice", claims("did:key:alice", now.Add(time.Hour), "lagod"))},
	}
	e.tok = aliceTok
	e.must(201, "POST", "/v1/sessions", `{"session_id":"private"}`)
	for _, tt := range unauth {
		t.Run(tt.name, func(t *testing.T) {
			e.tok = tt.tok
			code, body, hdr := e.do("GET", "/v1/sessions/private/events", "")
			if code != 401 || strings.Contains(body, "SessionCreated") || hdr.Get("WWW-Authenticate") == "" {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	// a session nobody created through the API is closed, and cannot be claimed
	e.tok = bobTok
	e.must(403, "POST", "/v1/sessions/squat/events", msg("s1", "bob writes first"))
	e.must(403, "POST", "/v1/sessions/squat/grants", `{"principal":"did:key:bob","role":"owner"}`)
	// 403 for bob until granted, then reader rights only
	if code, body, _ := e.do("GET", "/v1/sessions/private/events", ""); code != 403 || strings.Contains(body, "SessionCreated") {
		t.Fatalf("bob read: %d %s", code, body)
	}
	e.tok = aliceTok
	e.must(201, "POST", "/v1/sessions/private/grants", `{"principal":"did:key:bob","role":"reader"}`)
	e.tok = bobTok
	e.must(200, "GET", "/v1/sessions/private/events", "")
	e.must(403, "POST", "/v1/sessions/private/events", msg("b1", "bob writes"))
	if l := e.must(200, "GET", "/v1/sessions", ""); !strings.Contains(l, "private") {
		t.Fatalf("bob's list %s", l)
	}
	// 429: alice has 5 events a minute (1 used by the session) and 20 blob bytes
	e.tok = aliceTok
	e.must(201, "POST", "/v1/sessions/private/events", "["+msg("a1", "x")+","+msg("a2", "x")+","+msg("a3", "x")+"]")
	code, body, _ := e.do("POST", "/v1/sessions/private/events", "["+msg("a4", "x")+","+msg("a5", "x")+"]")
	if code != 429 || !strings.Contains(body, "events per minute") {
		t.Fatalf("rate: %d %s", code, body)
	}
	stored := e.must(201, "POST", "/v1/blobs", "0123456789")
	code, body, _ = e.do("POST", "/v1/blobs", "this is more than ten bytes")
	if code != 429 || !strings.Contains(body, "blob bytes") {
		t.Fatalf("blob quota: %d %s", code, body)
	}
	// a blob is served by hash to the tenant that stored it; to others it
	// looks absent (no probing for a hash)
	var put struct{ Hash string }
	if err := json.Unmarshal([]byte(stored), &put); err != nil || put.Hash == "" {
		t.Fatalf("put answer %s", stored)
	}
	if got := e.must(200, "GET", "/v1/blobs/"+put.Hash, ""); got != "0123456789" {
		t.Fatalf("own blob %q", got)
	}
	e.tok = bobTok
	_, absent, _ := e.do("GET", "/v1/blobs/"+strings.Repeat("0", 64), "")
	code, body, _ = e.do("GET", "/v1/blobs/"+put.Hash, "")
	if code != 404 || strings.Contains(body, "0123456789") || strings.ReplaceAll(body, put.Hash, strings.Repeat("0", 64)) != absent {
		t.Fatalf("another tenant's blob: %d %s (absent: %s)", code, body, absent)
	}
	e.tok = aliceTok
	if code, _, _ := e.do("GET", "/v1/sessions/lago.system/events", ""); code != 403 {
		t.Fatalf("system session served: %d", code)
	}
	// refusals are journaled
	n := 0
	for ev, err := range e.st.Journal.Read(context.Background(), aios.ReadQuery{Stream: policy.SystemStream}) {
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := ev.Payload.(*aios.Custom); ok && c.EventType == policy.EventRefused {
			n++
		}
	}
	if n != 8 {
		t.Fatalf("%d refusals journaled, want 8 (2 on the uncreated session, 403 read, 403 write, 429 rate, 429 blob, 2 blob reads)", n)
	}
}

// TestIdentityEvents: with auth on, a revocation (which carries no proof)
// is accepted only from a token signed by the key it revokes, and the
// accepted identity events reach the IdentityEvents hook once durable.
func TestIdentityEvents(t *testing.T) {
	alice, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bob, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	v := &es256Verifier{keys: map[string]*ecdsa.PublicKey{"did:key:alice": &alice.PublicKey, "did:key:bob": &bob.PublicKey}, now: time.Now}
	var mu sync.Mutex
	var got []aios.EventEnvelope
	e := newEnv(t, Config{Verifier: v, IdentityEvents: func(_ context.Context, evs []aios.EventEnvelope) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, evs...)
	}})
	tok := func(key *ecdsa.PrivateKey, did string) string {
		return sign(t, key, did, map[string]any{"iss": did, "sub": did, "aud": "lagod", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "j"})
	}
	revoke := func(did string) string {
		return fmt.Sprintf(`{"payload":{"type":"Custom","event_type":%q,"data":{"did":%q,"reason":"lost","revoked_at":1}}}`, aios.EventIdentityRevoked, did)
	}
	e.tok = tok(alice, "did:key:alice")
	e.must(201, "POST", "/v1/sessions", `{"session_id":"ids"}`)
	e.must(201, "POST", "/v1/sessions/ids/grants", `{"principal":"did:key:bob","role":"writer"}`)
	tests := []struct {
		name string
		tok  string
		body string
		want int
	}{
		{"bob revokes alice", tok(bob, "did:key:bob"), revoke("did:key:alice"), 403},
		{"malformed identity event", tok(bob, "did:key:bob"),
			fmt.Sprintf(`{"payload":{"type":"Custom","event_type":%q,"data":{"did":7}}}`, aios.EventIdentityRevoked), 400},
		{"plain event beside a foreign revocation", tok(bob, "did:key:bob"), "[" + msg("p1", "x") + "," + revoke("did:key:alice") + "]", 403},
		{"bob revokes himself", tok(bob, "did:key:bob"), revoke("did:key:bob"), 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.tok = tt.tok
			if code, body, _ := e.do("POST", "/v1/sessions/ids/events", tt.body); code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("hook got %d events, want bob's revocation only", len(got))
	}
	if r, ok := got[0].Payload.(*aios.IdentityRevoked); !ok || r.DID != "did:key:bob" {
		t.Fatalf("hook got %+v", got[0].Payload)
	}
	// nothing of the refused appends was stored; the refusals are journaled
	e.tok = tok(alice, "did:key:alice")
	if body := e.must(200, "GET", "/v1/sessions/ids/events", ""); strings.Contains(body, `"p1"`) || strings.Count(body, "identity_revoked") != 1 {
		t.Fatalf("stored events: %s", body)
	}
	refused := 0
	for ev, err := range e.st.Journal.Read(context.Background(), aios.ReadQuery{Stream: policy.SystemStream}) {
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := ev.Payload.(*aios.Custom); ok && c.EventType == policy.EventRefused && strings.Contains(string(c.Data), "revokes did:key:alice") {
			refused++
		}
	}
	if refused != 2 {
		t.Fatalf("%d revocation refusals journaled, want 2", refused)
	}
}

// TestSSEEndsWhenTokenExpires: a stream outlives no token; reconnecting with
// the expired one is a 401.
func TestSSEEndsWhenTokenExpires(t *testing.T) {
	alice, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v := &es256Verifier{keys: map[string]*ecdsa.PublicKey{"did:key:alice": &alice.PublicKey}, now: time.Now}
	e := newEnv(t, Config{Verifier: v})
	tok := func(exp time.Time) string {
		return sign(t, alice, "did:key:alice", map[string]any{"sub": "did:key:alice", "aud": "lagod", "iat": time.Now().Unix(), "exp": exp.Unix()})
	}
	e.tok = tok(time.Now().Add(time.Hour))
	e.must(201, "POST", "/v1/sessions", `{"session_id":"s"}`)
	short := tok(time.Now().Add(2 * time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/sessions/s/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+short)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body) // ends by itself at exp
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(b), "SessionCreated") {
		t.Fatalf("stream: %d %v %q", resp.StatusCode, err, b)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stream outlived its token by %v", d)
	}
	e.tok = short
	if code, body, _ := e.do("GET", "/v1/sessions/s/events/stream", ""); code != 401 {
		t.Fatalf("reconnect with the expired token: %d %s", code, body)
	}
}

package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/blob"
	"github.com/lifeos/life/lago/fsys"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/knowledge"
	"github.com/lifeos/life/lago/policy"
	"github.com/lifeos/life/lago/sse"
)

// streamEvents serves GET .../events/stream: stored events after `after`
// (or the Last-Event-ID header, which wins), then live ones, in `format`.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	st, ok := s.authorizedStream(w, r, policy.Read)
	if !ok {
		return
	}
	after, err := queryUint(r, "after")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		if after, err = sse.ParseLastEventID(v); err != nil {
			s.fail(w, r, badRequest("%v", err))
			return
		}
	}
	enc, err := sse.New(r.URL.Query().Get("format"), sse.Options{Model: r.URL.Query().Get("model")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw, _ := enc.(sse.RawEncoder)
	enc.Header(w.Header())
	w.WriteHeader(http.StatusOK)
	out := sse.NewWriter(w)
	if err := out.Comment("lago " + st.Session + "/" + st.Branch); err != nil {
		return
	}
	s.sseClients.Add(1)
	defer s.sseClients.Add(-1)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	type item struct {
		ev  journal.RawEvent
		err error
	}
	ch := make(chan item, 256)
	go func() {
		defer close(ch)
		for ev, err := range s.j.SubscribeRaw(ctx, st, after) {
			select {
			case ch <- item{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(s.cfg.KeepAlive)
	defer tick.Stop()
	var expired <-chan time.Time
	if exp := principalOf(r).Expires; !exp.IsZero() {
		// the client reconnects with a fresh token (Last-Event-ID: no loss)
		t := time.NewTimer(time.Until(exp))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stopStreams:
			return
		case <-expired:
			return
		case <-tick.C:
			if out.Comment("keep-alive") != nil {
				return
			}
		case it, ok := <-ch:
			if !ok {
				return
			}
			if it.err != nil {
				if !errors.Is(it.err, context.Canceled) {
					s.log.Warn("lagod stream ended", "session", st.Session, "err", it.err)
				}
				return
			}
			var msgs []sse.Message
			if raw != nil {
				msgs = raw.EncodeRaw(it.ev.Seq, it.ev.Data)
			} else {
				e, err := aios.DecodeEnvelope(it.ev.Data)
				if err != nil {
					s.log.Error("lagod stream: stored event does not decode", "seq", it.ev.Seq, "err", err)
					return
				}
				if msgs, err = enc.Encode(e); err != nil {
					s.log.Error("lagod stream: encode", "seq", it.ev.Seq, "err", err)
					return
				}
			}
			if len(msgs) > 0 {
				if out.Write(msgs...) != nil {
					return
				}
				s.sseSent.Add(uint64(len(msgs)))
			}
			if enc.Done() {
				return
			}
		}
	}
}

type branchReq struct {
	Name  string `json:"name"`
	From  string `json:"from"`
	AtSeq uint64 `json:"at_seq"`
}

func (s *Server) createBranch(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("id")
	var req branchReq
	if err := decodeBody(w, r, 1<<16, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.From == "" {
		req.From = "main"
	}
	for _, v := range []struct{ k, v string }{{"session", session}, {"name", req.Name}, {"from", req.From}} {
		if err := validID(v.k, v.v); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.authorize(r, session, policy.Write); err != nil {
		s.fail(w, r, err)
		return
	}
	parent := aios.StreamID{Session: session, Branch: req.From}
	if h, err := s.j.Head(r.Context(), parent); err != nil {
		s.fail(w, r, err)
		return
	} else if h == 0 {
		s.fail(w, r, fmt.Errorf("branch %s of %s: %w", req.From, session, aios.ErrNotFound))
		return
	}
	seq, err := s.j.Fork(r.Context(), s.ids, s.clock, parent, req.Name, req.AtSeq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	head, _ := s.j.Head(r.Context(), aios.StreamID{Session: session, Branch: req.Name})
	writeJSON(w, http.StatusCreated, map[string]any{"branch": req.Name, "from": req.From, "seq": seq, "fork_point": head})
}

func (s *Server) listBranches(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("id")
	if err := s.authorize(r, session, policy.Read); err != nil {
		s.fail(w, r, err)
		return
	}
	infos, err := s.j.Streams(r.Context(), session)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(infos) == 0 {
		s.fail(w, r, fmt.Errorf("session %s: %w", session, aios.ErrNotFound))
		return
	}
	type br struct {
		Branch string `json:"branch"`
		Parent string `json:"parent,omitempty"`
		Fork   uint64 `json:"fork_point,omitempty"`
		Head   uint64 `json:"head"`
	}
	out := []br{}
	for _, in := range infos {
		out = append(out, br{in.Stream.Branch, in.Parent, in.Fork, in.Head})
	}
	writeJSON(w, http.StatusOK, map[string]any{"branches": out})
}

func (s *Server) mergeBranch(w http.ResponseWriter, r *http.Request) {
	session, source := r.PathValue("id"), r.PathValue("branch")
	var req struct {
		Into string `json:"into"`
	}
	if err := decodeBody(w, r, 1<<16, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Into == "" {
		req.Into = "main"
	}
	if req.Into == source {
		s.fail(w, r, badRequest("cannot merge %s into itself", source))
		return
	}
	if err := s.authorize(r, session, policy.Write); err != nil {
		s.fail(w, r, err)
		return
	}
	if h, err := s.j.Head(r.Context(), aios.StreamID{Session: session, Branch: req.Into}); err != nil || h == 0 {
		s.fail(w, r, fmt.Errorf("branch %s: %w", req.Into, aios.ErrNotFound))
		return
	}
	seq, err := s.j.Merge(r.Context(), s.ids, s.clock, session, source, req.Into)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"seq": seq, "source": source, "into": req.Into})
}

func (s *Server) grant(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("id")
	var req struct {
		Principal string      `json:"principal"`
		Role      policy.Role `json:"role"`
	}
	if err := decodeBody(w, r, 1<<16, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := validID("principal", req.Principal); err != nil {
		s.fail(w, r, err)
		return
	}
	if !req.Role.Valid() {
		s.fail(w, r, badRequest("role %q: want owner, writer or reader", req.Role))
		return
	}
	if err := s.pol.Grant(r.Context(), principalOf(r).Subject, session, req.Principal, req.Role); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"session_id": session, "principal": req.Principal, "role": req.Role})
}

// ---- files ----

// exists is aios.ErrNotFound for a stream without events: its workspace
// would read as empty, and a diff against a mistyped branch as every file
// removed.
func (s *Server) exists(ctx context.Context, st aios.StreamID) error {
	h, err := s.j.Head(ctx, st)
	if err == nil && h == 0 {
		err = fmt.Errorf("stream %s/%s: %w", st.Session, st.Branch, aios.ErrNotFound)
	}
	return err
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	st, ok := s.authorizedStream(w, r, policy.Read)
	if !ok {
		return
	}
	if err := s.exists(r.Context(), st); err != nil {
		s.fail(w, r, err)
		return
	}
	seq, err := queryUint(r, "seq")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m, at, err := s.st.FS.List(r.Context(), st, seq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"seq": at, "files": m})
}

func (s *Server) readFile(w http.ResponseWriter, r *http.Request) {
	st, ok := s.authorizedStream(w, r, policy.Read)
	if !ok {
		return
	}
	seq, err := queryUint(r, "seq")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rc, ent, err := s.st.FS.Open(r.Context(), st, r.PathValue("path"), seq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rc.Close()
	ct := ent.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.FormatUint(ent.Size, 10))
	w.Header().Set("X-Lago-Blob", ent.Hash)
	s.copyVerified(w, rc)
}

// copyVerified streams a verified blob reader; a mismatch found at the end
// aborts the response so the client never takes corrupt bytes as complete.
func (s *Server) copyVerified(w io.Writer, rc io.Reader) {
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Error("lagod blob read failed mid-response", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// limitBody bounds an upload by the tenant's remaining blob bytes.
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request) (io.Reader, int64, error) {
	rem, err := s.pol.Remaining(r.Context(), principalOf(r).Tenant)
	if err != nil {
		return nil, 0, err
	}
	if rem < 0 {
		return r.Body, -1, nil
	}
	return http.MaxBytesReader(w, r.Body, rem), rem, nil
}

func (s *Server) quotaFromMaxBytes(r *http.Request, err error, rem int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) && rem >= 0 {
		// charge an impossible size so the refusal is journaled with its reason
		return s.pol.ChargeBlob(r.Context(), principalOf(r).Tenant, "over-quota", rem+1)
	}
	return err
}

func (s *Server) writeFile(w http.ResponseWriter, r *http.Request) {
	st, ok := s.authorizedStream(w, r, policy.Write)
	if !ok {
		return
	}
	mode, err := queryUint(r, "mode")
	if err != nil || mode > 0o777 {
		s.fail(w, r, badRequest("mode must be an octal permission as decimal, <= 511"))
		return
	}
	if err := s.pol.ChargeEvents(r.Context(), principalOf(r).Tenant, 1); err != nil {
		s.fail(w, r, err)
		return
	}
	body, rem, err := s.limitBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	seq, err := s.st.FS.Write(r.Context(), st, r.PathValue("path"), body, fs.FileMode(mode), r.Header.Get("Content-Type"))
	if err != nil {
		s.fail(w, r, s.quotaFromMaxBytes(r, err, rem))
		return
	}
	m, _, err := s.st.FS.List(r.Context(), st, seq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ent := m[cleanOr(r.PathValue("path"))]
	if err := s.pol.ChargeBlob(r.Context(), principalOf(r).Tenant, ent.Hash, int64(ent.Size)); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"seq": seq, "hash": ent.Hash, "size": ent.Size})
}

func cleanOr(p string) string {
	if c, err := fsys.CleanPath(p); err == nil {
		return c
	}
	return p
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) {
	st, ok := s.authorizedStream(w, r, policy.Write)
	if !ok {
		return
	}
	seq, err := s.st.FS.Delete(r.Context(), st, r.PathValue("path"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"seq": seq})
}

// diffFiles compares the workspace of branch@seq with to_branch@to_seq
// (defaults: main, head, the same branch, head).
func (s *Server) diffFiles(w http.ResponseWriter, r *http.Request) {
	a, err := stream(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b := a
	if tb := r.URL.Query().Get("to_branch"); tb != "" {
		if err := validID("to_branch", tb); err != nil {
			s.fail(w, r, err)
			return
		}
		b.Branch = tb
	}
	if err := s.authorize(r, a.Session, policy.Read); err != nil {
		s.fail(w, r, err)
		return
	}
	seqA, err := queryUint(r, "seq")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	seqB, err := queryUint(r, "to_seq")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, st := range []aios.StreamID{a, b} {
		if err := s.exists(r.Context(), st); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	ma, _, err := s.st.FS.List(r.Context(), a, seqA)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	mb, _, err := s.st.FS.List(r.Context(), b, seqB)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	changes := fsys.Diff(ma, mb)
	if changes == nil {
		changes = []fsys.Change{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": changes})
}

// snapshot checkpoints a branch's workspace manifest at a seq (0: head).
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Branch string `json:"branch"`
		Seq    uint64 `json:"seq"`
	}
	if err := decodeBody(w, r, 1<<16, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Branch == "" {
		req.Branch = "main"
	}
	st := aios.StreamID{Session: r.PathValue("id"), Branch: req.Branch}
	if err := validID("branch", st.Branch); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.authorize(r, st.Session, policy.Write); err != nil {
		s.fail(w, r, err)
		return
	}
	if h, err := s.j.Head(r.Context(), st); err != nil || h == 0 {
		s.fail(w, r, fmt.Errorf("%s/%s: %w", st.Session, st.Branch, aios.ErrNotFound))
		return
	}
	seq, err := s.st.FS.Snapshot(r.Context(), st, req.Seq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"projection": fsys.Projection.Name, "seq": seq})
}

// ---- knowledge ----

func (s *Server) workspace(ctx context.Context, st aios.StreamID) (*knowledge.Workspace, error) {
	if err := s.exists(ctx, st); err != nil {
		return nil, err
	}
	s.wsMu.Lock()
	ws, ok := s.spaces[st]
	if !ok {
		ws = knowledge.NewWorkspace(s.st.FS, st)
		s.spaces[st] = ws
	}
	s.wsMu.Unlock()
	_, err := ws.Sync(ctx)
	return ws, err
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	st, ok := s.authorizedStream(w, r, policy.Read)
	if !ok {
		return
	}
	q := r.URL.Query().Get("q")
	if q == "" {
		s.fail(w, r, badRequest("q is required"))
		return
	}
	limit, err := queryUint(r, "limit")
	if err != nil || limit > 100 {
		s.fail(w, r, badRequest("limit must be 0..100"))
		return
	}
	if limit == 0 {
		limit = 10
	}
	ws, err := s.workspace(r.Context(), st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hits := ws.Index().Search(q, int(limit))
	if hits == nil {
		hits = []knowledge.Hit{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"query": q, "hits": hits})
}

func (s *Server) traverse(w http.ResponseWriter, r *http.Request) {
	st, ok := s.authorizedStream(w, r, policy.Read)
	if !ok {
		return
	}
	from := r.URL.Query().Get("from")
	if from == "" {
		s.fail(w, r, badRequest("from is required"))
		return
	}
	depth, err := queryUint(r, "depth")
	if err != nil || depth > 10 {
		s.fail(w, r, badRequest("depth must be 0..10"))
		return
	}
	if r.URL.Query().Get("depth") == "" {
		depth = 1
	}
	back := r.URL.Query().Get("backlinks")
	if back != "" && back != "true" && back != "false" {
		s.fail(w, r, badRequest("backlinks must be true or false"))
		return
	}
	ws, err := s.workspace(r.Context(), st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	nodes, err := ws.Index().Traverse(from, int(depth), back == "true")
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: %v", aios.ErrNotFound, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from, "nodes": nodes})
}

// ---- blobs ----

func (s *Server) putBlob(w http.ResponseWriter, r *http.Request) {
	want := r.PathValue("hash")
	if want != "" && !blob.ValidHash(want) {
		s.fail(w, r, fmt.Errorf("%w: %q", blob.ErrInvalidHash, want))
		return
	}
	body, rem, err := s.limitBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var info aios.BlobInfo
	if want != "" {
		// checked before the rename: a mismatch stores nothing (uncharged bytes otherwise)
		info, err = s.st.Blobs.PutExpect(r.Context(), body, want)
	} else {
		info, err = s.st.Blobs.Put(r.Context(), body)
	}
	if err != nil {
		s.fail(w, r, s.quotaFromMaxBytes(r, err, rem))
		return
	}
	if err := s.pol.ChargeBlob(r.Context(), principalOf(r).Tenant, info.Hash, info.Size); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"hash": info.Hash, "size": info.Size})
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) {
	h := r.PathValue("hash")
	if s.cfg.Verifier != nil && blob.ValidHash(h) {
		// A blob is served by hash only to a tenant that stored it; others
		// read files through their sessions. The answer is the same 404 as
		// for a blob not stored, so a hash cannot be probed for.
		p := principalOf(r)
		mine, err := s.pol.Stored(r.Context(), p.Tenant, h)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !mine {
			_ = s.pol.Forbid(r.Context(), p.Subject, "", policy.Read, "blob "+h+" was not stored by tenant "+p.Tenant) // journaled only
			s.fail(w, r, fmt.Errorf("blob %s: %w", h, aios.ErrNotFound))
			return
		}
	}
	info, err := s.st.Blobs.Stat(r.Context(), h)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.Header().Set("ETag", `"`+info.Hash+`"`)
	if r.Method == http.MethodHead {
		return
	}
	rc, err := s.st.Blobs.Get(r.Context(), h)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rc.Close()
	s.copyVerified(w, rc)
}

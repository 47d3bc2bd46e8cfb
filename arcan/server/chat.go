package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
)

// SessionHeader names the session a chat completion continues; the answer
// always carries it, so a client can continue the same agent session.
const SessionHeader = "X-Arcan-Session"

// ChatCompletionRequest is the OpenAI Chat Completions request. Sampling
// and tool fields are accepted and ignored: the agent uses its own model
// settings and tools.
type ChatCompletionRequest struct {
	Model         string                  `json:"model"`
	Messages      []ChatCompletionMessage `json:"messages"`
	Stream        bool                    `json:"stream,omitempty"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	User string `json:"user,omitempty"`
}

// ChatCompletionMessage is one message; content is a string or an array of
// {type:"text", text} parts.
type ChatCompletionMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// ChatCompletion is the non-streaming answer.
type ChatCompletion struct {
	ID      string                 `json:"id"`
	Object  string                 `json:"object"`
	Created int64                  `json:"created"`
	Model   string                 `json:"model"`
	Choices []ChatCompletionChoice `json:"choices"`
	Usage   ChatCompletionUsage    `json:"usage"`
}

// ChatCompletionChoice is the one choice.
type ChatCompletionChoice struct {
	Index        int                   `json:"index"`
	Message      ChatCompletionMessage `json:"message"`
	FinishReason string                `json:"finish_reason"`
}

// ChatCompletionUsage counts tokens of the whole agent run.
type ChatCompletionUsage struct {
	PromptTokens     uint32 `json:"prompt_tokens"`
	CompletionTokens uint32 `json:"completion_tokens"`
	TotalTokens      uint32 `json:"total_tokens"`
}

func messageText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest("message content must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", badRequest("content part type %q is not supported (text only)", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req ChatCompletionRequest
	// Lenient on unknown fields: OpenAI clients send many optional ones.
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 8<<20))
	if err := decodeJSON(dec, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Messages) == 0 {
		writeErr(w, badRequest("messages is empty"))
		return
	}
	last := req.Messages[len(req.Messages)-1]
	if last.Role != "user" {
		writeErr(w, badRequest("the last message must be from the user (got %q)", last.Role))
		return
	}
	input, err := messageText(last.Content)
	if err != nil {
		writeErr(w, err)
		return
	}
	if strings.TrimSpace(input) == "" {
		writeErr(w, badRequest("the last user message is empty"))
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	cancelOnLeave, err := onDisconnect(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	ctx := r.Context()
	var st aios.StreamID
	// The conversation as the client will send it back next time, once
	// the answer is appended (recorded only for requests without the
	// session header, which carry the whole history each time).
	var convo *conversationKey
	if id := r.Header.Get(SessionHeader); id != "" {
		if err := validID("session", id); err != nil {
			writeErr(w, err)
			return
		}
		st = aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
		if err := s.exists(ctx, st); err != nil {
			writeErr(w, err)
			return
		}
	} else if convo, err = newConversationKey(caller(r), req.Messages); err != nil {
		writeErr(w, err)
		return
	} else if id, ok := s.continueChat(ctx, convo, key); ok {
		// The history is the session's own: only the new message is
		// journaled, not the whole conversation again.
		st = aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
	} else {
		// A new session seeded with the history the client sent.
		history, err := chatHistory(req.Messages[:len(req.Messages)-1])
		if err != nil {
			writeErr(w, err)
			return
		}
		if key != "" {
			// The session is named by the caller and the key, so a retry
			// finds the one the first attempt created (with its history,
			// journaled in the same append) and its run by the key.
			st = aios.StreamID{Session: "chat-" + requestHash("chat-session", caller(r), key)[:32], Branch: runtime.DefaultBranch}
			if _, err := s.cfg.Runtime.CreateSessionID(ctx, st.Session, "chat.completions", nil, history...); err != nil {
				writeErr(w, err)
				return
			}
		} else {
			id, err := s.cfg.Runtime.CreateSession(ctx, "chat.completions", nil)
			if err != nil {
				writeErr(w, err)
				return
			}
			st = aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
			if len(history) > 0 {
				if err := s.cfg.Runtime.Append(ctx, st, history...); err != nil {
					writeErr(w, err)
					return
				}
			}
		}
	}
	opts := runtime.RunOptions{Input: input}
	if key != "" {
		convoKey, err := newConversationKey("", req.Messages)
		if err != nil {
			writeErr(w, err)
			return
		}
		opts.IdempotencyKey, opts.RequestHash = key, requestHash("chat", hashMessages("", convoKey.msgs))
	}
	w.Header().Set(SessionHeader, st.Session)
	model := req.Model
	if model == "" {
		model = s.cfg.Runtime.Provider().Name()
	}
	id, created := s.ids.NewID(), time.Now().Unix()
	if req.Stream {
		// The stream's headers go out once the run took the input, so a
		// run refused at once (one in progress, one waiting for approval)
		// is a plain JSON error with its status.
		var enc *openaiEnc
		start := func() {
			if enc == nil {
				enc = &openaiEnc{sw: newSSE(w, FormatOpenAI), id: "chatcmpl-" + id, created: created, model: model, usage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
			}
		}
		sep := false
		var answer strings.Builder
		// The run's callbacks write through c: they go on after the
		// handler returned if the client left.
		c := &client{}
		o := opts
		o.OnAccepted = func(string) { c.do(start) }
		o.OnDelta = func(t string) {
			gap := sep
			sep = false
			if gap {
				answer.WriteString("\n\n")
			}
			answer.WriteString(t)
			c.do(func() {
				start()
				if gap {
					enc.delta("\n\n")
				}
				enc.delta(t)
			})
		}
		o.OnEvent = func(e aios.EventEnvelope) {
			if m, ok := e.Payload.(*aios.AssistantMessageCommitted); ok && m.Content != "" {
				sep = true
			}
		}
		res, err, ok := s.runDetached(r, c, cancelOnLeave, func(ctx context.Context) (runtime.Result, error) {
			return s.cfg.Runtime.Run(ctx, st, o)
		})
		if !ok {
			return // the client left; the run goes on unless it asked otherwise
		}
		if errors.Is(err, runtime.ErrDuplicateRun) {
			if errors.Is(err, runtime.ErrRunActive) {
				writeInProgress(w, st, res.RunID)
				return
			}
			w.Header().Set(ReplayedHeader, "true")
			start()
			if res.FinalAnswer != "" {
				enc.delta(res.FinalAnswer)
			}
			enc.done(res, nil)
			return
		}
		if enc == nil && err != nil {
			writeErr(w, err)
			return
		}
		s.remember(ctx, convo, st, res, err, answer.String())
		start()
		enc.done(res, err)
		return
	}
	var texts []string
	opts.OnEvent = func(e aios.EventEnvelope) {
		if m, ok := e.Payload.(*aios.AssistantMessageCommitted); ok && m.Content != "" {
			texts = append(texts, m.Content)
		}
	}
	res, err, ok := s.runDetached(r, &client{}, cancelOnLeave, func(ctx context.Context) (runtime.Result, error) {
		return s.cfg.Runtime.Run(ctx, st, opts)
	})
	if !ok {
		return // the client left; the run goes on unless it asked otherwise
	}
	replayed := errors.Is(err, runtime.ErrDuplicateRun)
	switch {
	case replayed && errors.Is(err, runtime.ErrRunActive):
		writeInProgress(w, st, res.RunID)
		return
	case replayed:
		// The run's answer as it ended (its earlier texts, if any, are
		// in the session's state).
		w.Header().Set(ReplayedHeader, "true")
		texts, err = []string{res.FinalAnswer}, nil
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	finish := "stop"
	if res.Status != runtime.StatusCompleted {
		finish = "length"
	}
	answer := strings.Join(texts, "\n\n")
	s.remember(ctx, convo, st, res, err, answer)
	content, _ := json.Marshal(answer)
	writeJSON(w, http.StatusOK, ChatCompletion{
		ID: "chatcmpl-" + id, Object: "chat.completion", Created: created, Model: model,
		Choices: []ChatCompletionChoice{{Index: 0, Message: ChatCompletionMessage{Role: "assistant", Content: content}, FinishReason: finish}},
		Usage:   ChatCompletionUsage{PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens, TotalTokens: res.Usage.TotalTokens},
	})
}

// continueChat finds the session that answered the conversation before
// the request's new message (never for a request with an idempotency key,
// whose session is named by the key).
func (s *Server) continueChat(ctx context.Context, convo *conversationKey, key string) (string, bool) {
	if key != "" {
		return "", false
	}
	return s.chats.take(convo.prefix(), func(id string, head uint64) bool {
		h, err := s.cfg.Journal.Head(ctx, aios.StreamID{Session: id, Branch: runtime.DefaultBranch})
		return err == nil && h == head // nobody wrote to it since
	})
}

// chatHistory turns the messages before the last into journal payloads.
func chatHistory(msgs []ChatCompletionMessage) ([]aios.Payload, error) {
	var history []aios.Payload
	for _, m := range msgs {
		text, err := messageText(m.Content)
		if err != nil {
			return nil, err
		}
		switch m.Role {
		case "system", "developer", "user", "assistant":
			role := m.Role
			if role == "developer" {
				role = "system"
			}
			history = append(history, &aios.Message{Role: role, Content: text})
		case "tool":
			// Results of tools the client ran are not the agent's; keep them as context.
			history = append(history, &aios.Message{Role: "user", Content: fmt.Sprintf("[tool %s result] %s", m.ToolCallID, text)})
		default:
			return nil, badRequest("message role %q", m.Role)
		}
	}
	return history, nil
}

// remember records a completed answer of a request without the session
// header, so that the client's next request, which repeats the whole
// conversation, continues this session instead of storing it all again.
func (s *Server) remember(ctx context.Context, convo *conversationKey, st aios.StreamID, res runtime.Result, err error, answer string) {
	if convo == nil || err != nil || res.Status != runtime.StatusCompleted {
		return
	}
	head, herr := s.cfg.Journal.Head(ctx, st)
	if herr != nil {
		return
	}
	s.chats.put(convo.with("assistant", answer), st.Session, head)
}

// conversationKey hashes a conversation as a client sends it: each
// message's role and text, length-prefixed so that no two differ alike.
// With auth on the caller's DID is part of it: another caller sending the
// same history gets its own session, never this one.
type conversationKey struct {
	caller string
	msgs   [][2]string
}

func newConversationKey(caller string, msgs []ChatCompletionMessage) (*conversationKey, error) {
	k := &conversationKey{caller: caller, msgs: make([][2]string, 0, len(msgs)+1)}
	for _, m := range msgs {
		text, err := messageText(m.Content)
		if err != nil {
			return nil, err
		}
		k.msgs = append(k.msgs, [2]string{m.Role + "\x00" + m.ToolCallID, text})
	}
	return k, nil
}

func hashMessages(caller string, msgs [][2]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s", len(caller), caller)
	for _, m := range msgs {
		fmt.Fprintf(h, "%d:%s%d:%s", len(m[0]), m[0], len(m[1]), m[1])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// prefix is the key of every message but the last (the new one).
func (k *conversationKey) prefix() string { return hashMessages(k.caller, k.msgs[:len(k.msgs)-1]) }

// with is the key of the whole conversation followed by one more message.
func (k *conversationKey) with(role, text string) string {
	return hashMessages(k.caller, append(k.msgs[:len(k.msgs):len(k.msgs)], [2]string{role + "\x00", text}))
}

// maxChats bounds the conversations remembered; the oldest go first (their
// clients then get a new session, as without this index).
const maxChats = 4096

// chatIndex maps the key of a conversation a client was answered to the
// session that holds it and that session's head at the time. It lives in
// memory: after a restart a conversation starts a new session.
type chatIndex struct {
	mu    sync.Mutex
	byKey map[string]chatEntry
	order []string // keys, oldest first (some may be taken already)
}

type chatEntry struct {
	session string
	head    uint64
}

func (c *chatIndex) put(key, session string, head uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[string]chatEntry{}
	}
	if len(c.order) >= 2*maxChats { // drop the keys already taken
		c.order = slices.DeleteFunc(c.order, func(k string) bool { _, ok := c.byKey[k]; return !ok })
	}
	for len(c.byKey) >= maxChats && len(c.order) > 0 {
		delete(c.byKey, c.order[0])
		c.order = c.order[1:]
	}
	c.byKey[key] = chatEntry{session, head}
	c.order = append(c.order, key)
}

// take removes and returns the session of key if ok accepts it.
func (c *chatIndex) take(key string, ok func(session string, head uint64) bool) (string, bool) {
	c.mu.Lock()
	e, found := c.byKey[key]
	delete(c.byKey, key)
	c.mu.Unlock()
	if !found || !ok(e.session, e.head) {
		return "", false
	}
	return e.session, true
}

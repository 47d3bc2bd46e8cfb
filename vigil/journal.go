package vigil

import (
	"context"
	"iter"
	"maps"
	"time"

	"github.com/lifeos/life/aios"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// WrapJournal returns j with a `lago append` span per Append and a
// `lago replay` span per Read, the append latency and batch size metrics,
// and the run tracer fed with every appended event. Each appended event
// that carries no trace context yet gets the trace_id and span_id of the
// span it belongs to (its run, step or phase span, else the caller's span,
// else the span of the next event in its batch that has one) in its
// metadata; the caller's envelopes are not modified. The spans an append
// or a read closes end, timed at the call's return, on vigil's own
// goroutine just after it: the caller goes on meanwhile
// ([Telemetry.Settle], ForceFlush and Shutdown wait for them). A disabled
// Telemetry returns j itself.
func (t *Telemetry) WrapJournal(j aios.Journal) aios.Journal {
	if !t.enabled || j == nil {
		return j
	}
	return &journal{next: j, t: t}
}

type journal struct {
	next aios.Journal
	t    *Telemetry
}

// Unwrap returns the wrapped journal.
func (j *journal) Unwrap() aios.Journal { return j.next }

func (j *journal) Append(ctx context.Context, events ...aios.EventEnvelope) ([]uint64, error) {
	t := j.t
	t.runs.inflight.Add(1)
	defer t.runs.inflight.Add(-1)
	if t.closing.Load() {
		// Shutdown began: an append counted in inflight before this would
		// have been waited for; this one would end its spans too late.
		return j.next.Append(ctx, events...)
	}
	// Observe first, so the append span hangs under the span the batch opens.
	obs := make([]observation, len(events))
	out := make([]aios.EventEnvelope, len(events))
	for i := range events {
		out[i] = events[i]
		obs[i] = t.runs.observe(ctx, &out[i], false)
	}
	// An event with no span yet (the user message a run starts with) joins
	// the span of the next event of its batch that has one.
	var next, hexSC trace.SpanContext
	var tid, sid string // hex of hexSC: a batch's events share a few spans
	// The stamped map of the event after this one, and what it was made
	// from: events of one span with the same metadata share one map (the
	// journal only reads it), which saves a map per event.
	var lastMD, lastSrc map[string]string
	for i := len(out) - 1; i >= 0; i-- {
		sc := obs[i].sc
		if sc.IsValid() {
			next = sc
		} else {
			sc = next
		}
		if out[i].TraceID() == "" && sc.IsValid() && sc.IsSampled() && !(t.skipDeltas && isDelta(out[i].Payload)) {
			if !sc.Equal(hexSC) {
				if sc.TraceID() != hexSC.TraceID() {
					tid = sc.TraceID().String()
				}
				sid = sc.SpanID().String()
				hexSC = sc
			}
			src := out[i].Metadata
			if lastMD != nil && lastMD[aios.MetaSpanID] == sid && lastMD[aios.MetaTraceID] == tid && maps.Equal(src, lastSrc) {
				out[i].Metadata = lastMD
				continue
			}
			// A copy: the caller's metadata map is left alone.
			md := make(map[string]string, len(src)+2)
			maps.Copy(md, src)
			md[aios.MetaTraceID] = tid
			md[aios.MetaSpanID] = sid
			out[i].Metadata = md
			lastMD, lastSrc = md, src
		}
	}

	// The append span hangs under the batch's last span, else the caller's.
	var pctx context.Context
	if n := len(obs); n > 0 && obs[n-1].sc.IsValid() {
		pctx = trace.ContextWithSpanContext(ctx, obs[n-1].sc)
	} else {
		pctx, _, _ = t.parent(ctx)
	}
	kv := make([]attribute.KeyValue, 0, 4)
	if len(events) > 0 {
		kv = append(kv, AttrSessionID.String(events[0].SessionID), AttrBranchID.String(events[0].BranchID))
		if events[0].RunID != "" {
			kv = append(kv, AttrRunID.String(events[0].RunID))
		}
	}
	kv = append(kv, AttrBatchSize.Int(len(events)))
	// SpanKindInternal is the default kind.
	pctx, span := t.tracer.Start(pctx, "lago append", trace.WithAttributes(kv...))

	began := time.Now()
	seqs, err := j.next.Append(pctx, out...)
	dur := time.Since(began)

	// The spans end once their events are durable (or failed), on the
	// finisher's goroutine: the caller goes on meanwhile. What the task
	// needs is copied here; the caller owns seqs.
	var first, last uint64
	if err == nil && len(seqs) > 0 {
		first, last = seqs[0], seqs[len(seqs)-1]
		for i := range obs {
			if i < len(seqs) {
				obs[i].seq = seqs[i]
			}
		}
	}
	ended := trace.WithTimestamp(began.Add(dur))
	n := len(events)
	t.fin.add(func() {
		mkv := t.inst.outcomeOK
		if err != nil {
			mkv = t.inst.outcomeErr
		}
		t.inst.appendDuration.Record(ctx, dur.Seconds(), mkv.rec...)
		t.inst.appendBatch.Record(ctx, int64(n), mkv.rec...)
		if err != nil {
			t.recordError(span, err)
			span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
		} else if last > 0 {
			span.SetAttributes(AttrSeq.Int64(int64(last)), attrSeqFirst.Int64(int64(first)))
		}
		span.End(ended)
		for i := range obs {
			obs[i].finish(ended)
		}
	})
	return seqs, err
}

func (j *journal) Read(ctx context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		t := j.t
		pctx, _, _ := t.parent(ctx)
		kv := []attribute.KeyValue{
			AttrSessionID.String(q.Stream.Session), AttrBranchID.String(q.Stream.Branch),
			attrSeqAfter.Int64(int64(q.After)),
		}
		if q.Until > 0 {
			kv = append(kv, attrSeqUntil.Int64(int64(q.Until)))
		}
		// SpanKindInternal is the default kind.
		pctx, span := t.tracer.Start(pctx, "lago replay", trace.WithAttributes(kv...))
		n := 0
		var last uint64
		var readErr error
		defer func() { // also when the consumer's loop body panics
			ended := trace.WithTimestamp(time.Now())
			t.fin.add(func() {
				if readErr != nil {
					t.recordError(span, readErr)
				}
				if n > 0 {
					span.SetAttributes(AttrEventCount.Int(n), AttrSeq.Int64(int64(last)))
				} else {
					span.SetAttributes(AttrEventCount.Int(n))
				}
				span.End(ended)
			})
		}()
		for env, err := range j.next.Read(pctx, q) {
			if err != nil {
				readErr = err
				yield(env, err)
				break
			}
			n++
			last = env.Seq
			if !yield(env, nil) {
				break
			}
		}
	}
}

func (j *journal) Head(ctx context.Context, stream aios.StreamID) (uint64, error) {
	return j.next.Head(ctx, stream)
}

// Subscribe passes through: a live subscription is not one operation to time.
func (j *journal) Subscribe(ctx context.Context, stream aios.StreamID, after uint64) iter.Seq2[aios.EventEnvelope, error] {
	return j.next.Subscribe(ctx, stream, after)
}

const (
	attrSeqFirst = attribute.Key("life.seq.first")
	attrSeqAfter = attribute.Key("life.seq.after")
	attrSeqUntil = attribute.Key("life.seq.until")
)

// isDelta reports whether p is one piece of a stream (text or voice).
func isDelta(p aios.Payload) bool {
	switch p.(type) {
	case *aios.AssistantTextDelta, *aios.TextDelta, *aios.VoiceInputChunk, *aios.VoiceOutputChunk:
		return true
	}
	return false
}

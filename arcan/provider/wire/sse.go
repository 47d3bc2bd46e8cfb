// Package wire holds what the HTTP providers share: a server-sent events
// reader, typed API errors, and retries with backoff that honour Retry-After.
package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
)

// Event is one server-sent event.
type Event struct {
	Name string // the "event:" field, "" when absent
	Data string // the "data:" lines joined with "\n"
	ID   string
}

// MaxLine caps one SSE line; longer lines are an error, not a memory blowup.
const MaxLine = 4 << 20

// ErrSSE is matched by malformed streams.
var ErrSSE = errors.New("wire: malformed event stream")

// ReadSSE yields the events of an SSE stream (WHATWG rules: fields split at
// the first colon, one optional space dropped, comments skipped, an event
// dispatched at each blank line). Hand-written: the format is a few lines
// and the Go SSE libraries are client frameworks, not readers.
func ReadSSE(r io.Reader) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
		var ev Event
		var data []string
		hasData := false
		for sc.Scan() {
			line := strings.TrimSuffix(sc.Text(), "\r")
			if line == "" {
				if hasData {
					ev.Data = strings.Join(data, "\n")
					if !yield(ev, nil) {
						return
					}
				}
				ev, data, hasData = Event{}, nil, false
				continue
			}
			if line[0] == ':' {
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				ev.Name = value
			case "data":
				data = append(data, value)
				hasData = true
			case "id":
				ev.ID = value
			}
		}
		if err := sc.Err(); err != nil {
			yield(Event{}, fmt.Errorf("%w: %w", ErrSSE, err))
			return
		}
		if hasData { // a final event without its blank line still counts
			ev.Data = strings.Join(data, "\n")
			yield(ev, nil)
		}
	}
}

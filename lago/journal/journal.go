package journal

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lifeos/life/aios"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	bktStreams   = []byte("streams")
	bktLog       = []byte("log")
	bktIndex     = []byte("index")
	bktIDs       = []byte("ids")
	bktSnapshots = []byte("snapshots")
	bktMeta      = []byte("meta")
	// keyIDsThrough is the gseq up to which every event_id is in bktIDs
	// and every event in bktIndex; later ones are found in the log tail.
	keyIDsThrough = []byte("ids_through")
)

// idFlushAt is how many event ids are kept in memory before they are
// written to the ids bucket, in the same transaction as a batch of events.
// Writing them lazily keeps a single-event append at the page writes of a
// raw one-record bbolt transaction.
const idFlushAt = 1024

// fillPercent is how full bbolt packs a split page of the append-mostly
// buckets.
const fillPercent = 0.9

// Errors callers branch on (errors.Is).
var (
	// ErrClosed is returned by operations on a closed journal.
	ErrClosed = errors.New("journal: closed")
	// ErrInvalid is matched by every rejected event: it wraps the aios
	// validation or decoding error too.
	ErrInvalid = errors.New("journal: invalid event")
	// ErrBranch is matched when a BranchCreated cannot be applied: fork point
	// past the parent's head, or a branch id already used differently.
	ErrBranch = errors.New("journal: bad branch")
	// ErrCorrupt is matched by errors about stored data that does not read back.
	ErrCorrupt = errors.New("journal: corrupt store")
	// ErrIDConflict is matched when an event's event_id is already stored
	// in another stream: not a retry of the same event, so it is neither
	// stored nor answered with the other event's seq.
	ErrIDConflict = errors.New("journal: event_id already stored in another stream")
	// ErrLocked is matched when another process holds the file past
	// Options.LockTimeout.
	ErrLocked = errors.New("journal: locked by another process")
	// ErrReadOnly is matched by an Append to a journal opened ReadOnly.
	ErrReadOnly = errors.New("journal: opened read-only")
)

// Options tune a journal. The zero value is the durable default.
type Options struct {
	// MaxBatch caps how many events one transaction commits (default 4096).
	MaxBatch int
	// NoSync skips fsync: for tests and benchmarks of CPU cost only; an
	// acknowledged event is then not durable.
	NoSync bool
	// Logger receives warnings (default slog.Default()).
	Logger *slog.Logger
	// LockTimeout bounds the wait for the file lock held by another process
	// (default 2 s).
	LockTimeout time.Duration
	// NoGatherWait turns off the committer's brief yield for more appends
	// under concurrency (see committer).
	NoGatherWait bool
	// ReadOnly opens the file without writing to it (a shared lock, no
	// free-list rebuild): for verify, export and stats. Appends fail with
	// ErrReadOnly.
	ReadOnly bool
}

// Journal is an aios.Journal on one bbolt file. It is safe for concurrent use.
type Journal struct {
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	reqs     chan *appendReq
	quit     chan struct{}
	done     chan struct{}
	closeMu  sync.RWMutex
	isClosed bool

	// committer-owned cache of stream state, valid after successful commits.
	cache map[string]streamMeta
	gseq  uint64

	// idsMu guards pending: event ids stored but not yet in the ids bucket
	// (id -> seq(8) + stream key). The committer holds it across a commit
	// so a reader never sees an event whose id is in neither place.
	idsMu   sync.RWMutex
	pending map[string][]byte
	// pendingIdx are the stream index entries of the same events.
	pendingIdx []idxEntry
	idsThrough uint64

	notifyMu sync.Mutex
	notify   map[string]chan struct{}
	// waiters counts the subscribers holding a notify channel, so one
	// nobody waits on is dropped (a subscription to a stream never written,
	// e.g. a mistyped branch, would otherwise keep its entry for good).
	waiters map[string]int
	// allNotify is closed on every commit (for whole-journal followers).
	allNotify chan struct{}

	stats Stats
}

var _ aios.Journal = (*Journal)(nil)

// Stats are counters of the committer, read with Journal.Stats.
type Stats struct {
	Commits uint64 // bbolt transactions committed
	Events  uint64 // events stored
	Dedups  uint64 // appends answered from the event_id index
	// CommitTime is the total time spent in transactions (fsync included);
	// GatherWait the total time the committer waited for more appends.
	CommitTime time.Duration
	GatherWait time.Duration
}

// streamMeta is written once, when the stream is created; Head and Digest
// are derived from its last stored event (so an append writes no meta).
type streamMeta struct {
	Parent string `json:"parent,omitempty"` // parent branch id
	Fork   uint64 `json:"fork,omitempty"`
	Order  uint64 `json:"order"` // gseq at creation, for listing in creation order
	Head   uint64 `json:"-"`
	Digest string `json:"-"` // hex digest at Head ("" when none)
}

type appendReq struct {
	events []prepared
	seqs   []uint64
	err    error
	done   chan struct{}
}

// Open opens (creating if needed) the journal file at path.
func Open(path string, opts Options) (*Journal, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 2 * time.Second
	}
	db, err := openBolt(path, opts)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("journal: open %s: %w (waited %v)", path, ErrLocked, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	j := &Journal{
		db: db, opts: opts, log: opts.Logger,
		reqs:      make(chan *appendReq, 1024),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		cache:     map[string]streamMeta{},
		pending:   map[string][]byte{},
		notify:    map[string]chan struct{}{},
		waiters:   map[string]int{},
		allNotify: make(chan struct{}),
	}
	initTx := db.Update
	if opts.ReadOnly {
		initTx = db.View
	}
	err = catch(func() error {
		return initTx(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bktStreams, bktLog, bktIndex, bktIDs, bktSnapshots, bktMeta} {
				if opts.ReadOnly {
					if tx.Bucket(b) == nil {
						return fmt.Errorf("%w: bucket %s missing", ErrCorrupt, b)
					}
					continue
				}
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			j.idsThrough = indexedThrough(tx)
			// The global append counter is the largest of the streams' creation
			// numbers and the last log key: O(streams), not stored.
			if k, _ := tx.Bucket(bktLog).Cursor().Last(); len(k) == 8 {
				j.gseq = binary.BigEndian.Uint64(k)
			}
			err := tx.Bucket(bktStreams).ForEach(func(k, v []byte) error {
				m, _, err := readMetaBytes(string(k), v)
				if err != nil {
					return err
				}
				j.gseq = max(j.gseq, m.Order)
				return nil
			})
			if err != nil {
				return err
			}
			return j.reindexTail(tx)
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("journal: init %s: %w", path, err)
	}
	go j.committer()
	return j, nil
}

// openBolt opens the bbolt file. bbolt panics on a damaged file (it walks
// every page to rebuild the free list): that is returned as ErrCorrupt, so
// lago verify and lagod report it instead of crashing. (A panic in the
// goroutine bbolt walks the pages with cannot be caught: ReadOnly skips
// that walk.)
func openBolt(path string, opts Options) (db *bolt.DB, err error) {
	if err := checkLength(path); err != nil {
		return nil, err
	}
	err = catch(func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:        opts.LockTimeout,
			NoFreelistSync: true,
			FreelistType:   bolt.FreelistMapType,
			NoSync:         opts.NoSync,
			ReadOnly:       opts.ReadOnly,
		})
		return err
	})
	return db, err
}

// catch runs fn and returns a panic of bbolt's on a damaged page as
// ErrCorrupt. A damaged page can also point past the mapped file: that
// fault is made a panic too.
func catch(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	return fn()
}

// checkLength refuses a bbolt file shorter than its meta page says it is
// (cut by a full disk or a partial copy): bbolt would read past its end from
// a goroutine of its own, whose panic cannot be recovered. The meta page
// layout (native endian): page header(16), magic, version, page size, flags
// (4 each), root(16), freelist, high-water page id, txid, FNV-64a checksum
// of the 56 bytes before it (8 each).
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // absent: bbolt creates it; other errors are bbolt's to report
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	meta := func(off int64) (pageSize, hwm, txid uint64, ok bool) {
		var b [80]byte
		if _, err := f.ReadAt(b[:], off); err != nil {
			return 0, 0, 0, false
		}
		ne := binary.NativeEndian
		h := fnv.New64a()
		h.Write(b[16:72])
		if ne.Uint32(b[16:]) != 0xED0CDAED || ne.Uint64(b[72:]) != h.Sum64() {
			return 0, 0, 0, false
		}
		return uint64(ne.Uint32(b[24:])), ne.Uint64(b[56:]), ne.Uint64(b[64:]), true
	}
	ps0, hwm0, tx0, ok0 := meta(0)
	off1 := int64(os.Getpagesize())
	if ok0 {
		off1 = int64(ps0)
	}
	ps1, hwm1, tx1, ok1 := meta(off1)
	var pageSize, hwm uint64
	switch {
	case ok0 && (!ok1 || tx0 >= tx1):
		pageSize, hwm = ps0, hwm0
	case ok1:
		pageSize, hwm = ps1, hwm1
	default:
		return nil // no valid meta page: bbolt says "invalid database"
	}
	if pageSize != 0 && hwm <= math.MaxInt64/pageSize && uint64(fi.Size()) < hwm*pageSize {
		return fmt.Errorf("%w: %s is %d bytes, its pages need %d (truncated)", ErrCorrupt, path, fi.Size(), hwm*pageSize)
	}
	return nil
}

// Close stops the committer after the pending appends and closes the file.
func (j *Journal) Close() error {
	j.closeMu.Lock()
	if j.isClosed {
		j.closeMu.Unlock()
		return nil
	}
	j.isClosed = true
	close(j.quit)
	j.closeMu.Unlock()
	<-j.done
	if !j.opts.ReadOnly {
		if err := j.Flush(context.Background()); err != nil {
			j.log.Warn("journal: flush event ids on close", "err", err) // rebuilt at next Open
		}
	}
	j.notifyMu.Lock()
	for k, ch := range j.notify {
		close(ch)
		delete(j.notify, k)
	}
	close(j.allNotify)
	j.notifyMu.Unlock()
	return j.db.Close()
}

// DB exposes the bbolt handle for read-only tools (stats, backups).
func (j *Journal) DB() *bolt.DB { return j.db }

// Stats returns the committer counters.
func (j *Journal) Stats() Stats {
	j.notifyMu.Lock()
	defer j.notifyMu.Unlock()
	return j.stats
}

func streamKey(s aios.StreamID) string { return s.Session + "\x00" + s.Branch }

func splitKey(k string) aios.StreamID {
	s, b, _ := strings.Cut(k, "\x00")
	return aios.StreamID{Session: s, Branch: b}
}

// MaxIDLen bounds event ids, session and branch ids (bytes). They are
// bbolt keys (at most 32 KiB), and event ids are written to their bucket
// lazily: one too long would fail that write, and with it every commit
// after it.
const MaxIDLen = 1024

func checkStream(s aios.StreamID) error {
	if s.Session == "" || s.Branch == "" {
		return fmt.Errorf("%w: session and branch must be set", ErrInvalid)
	}
	if len(s.Session) > MaxIDLen || len(s.Branch) > MaxIDLen {
		return fmt.Errorf("%w: session or branch longer than %d bytes", ErrInvalid, MaxIDLen)
	}
	if strings.ContainsRune(s.Session, 0) || strings.ContainsRune(s.Branch, 0) {
		return fmt.Errorf("%w: session or branch contains NUL", ErrInvalid)
	}
	return nil
}

// Append durably stores events and returns their seqs (see aios.Journal).
// Events are validated first; one invalid event fails the call and nothing
// is stored.
func (j *Journal) Append(ctx context.Context, events ...aios.EventEnvelope) ([]uint64, error) {
	if len(events) == 0 {
		return nil, nil
	}
	req := &appendReq{events: make([]prepared, len(events)), done: make(chan struct{})}
	for i := range events {
		p, err := prepare(events[i])
		if err != nil {
			return nil, fmt.Errorf("journal: event %d (%s): %w", i, events[i].EventID, err)
		}
		req.events[i] = p
	}
	if j.opts.ReadOnly {
		return nil, ErrReadOnly
	}
	j.closeMu.RLock()
	if j.isClosed {
		j.closeMu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case j.reqs <- req:
	case <-ctx.Done():
		j.closeMu.RUnlock()
		return nil, ctx.Err()
	}
	j.closeMu.RUnlock()
	// Once queued the append will be committed or fail as a whole; waiting
	// for it even after ctx ends keeps the caller's view honest.
	<-req.done
	return req.seqs, req.err
}

// committer is the single writer. It takes every queued append into one
// transaction. Under concurrency it also waits a little for the writers it
// just acknowledged: they come back with their next event within
// microseconds, and without the wait batches settle at half the writers
// (the other half always arriving just after a commit began). It yields
// the processor while that keeps bringing appends, and only after a batch
// of several appends, so a lone writer never waits.
func (j *Journal) committer() {
	defer close(j.done)
	batch := make([]*appendReq, 0, 64)
	var last1 int // requests in the last batch
	var lastDur time.Duration
	for {
		batch = batch[:0]
		select {
		case r := <-j.reqs:
			batch = append(batch, r)
		case <-j.quit:
			// drain what is queued, then stop
			for {
				select {
				case r := <-j.reqs:
					j.commit([]*appendReq{r})
				default:
					return
				}
			}
		}
		n := len(batch[0].events)
	gather:
		for n < j.opts.MaxBatch {
			select {
			case r := <-j.reqs:
				batch = append(batch, r)
				n += len(r.events)
			default:
				break gather
			}
		}
		waitStart := time.Now()
		if last1 >= 4 && n < j.opts.MaxBatch && !j.opts.NoSync && !j.opts.NoGatherWait {
			// Yield to the writers just acknowledged (they are runnable and
			// about to append again) while that keeps bringing appends.
			// Sub-millisecond timers are too coarse under load for this.
			idle := 0
			for i := 0; i < 256 && idle < 3 && n < j.opts.MaxBatch; i++ {
				runtime.Gosched()
				got := false
			drain:
				for n < j.opts.MaxBatch {
					select {
					case r := <-j.reqs:
						batch = append(batch, r)
						n += len(r.events)
						got = true
					default:
						break drain
					}
				}
				if got {
					idle = 0
				} else {
					idle++
				}
			}
		}
		start := time.Now()
		j.commit(batch)
		lastDur = time.Since(start)
		j.notifyMu.Lock()
		j.stats.CommitTime += lastDur
		j.stats.GatherWait += start.Sub(waitStart)
		j.notifyMu.Unlock()
		last1 = len(batch)
	}
}

// errRequest marks a failure of one request inside a batch: the batch is
// retried without it.
type errRequest struct {
	idx int
	err error
}

func (e *errRequest) Error() string { return e.err.Error() }

// commit stores a batch in one transaction. A request that cannot be applied
// (bad fork point) is answered with its error and the rest retried.
func (j *Journal) commit(batch []*appendReq) {
	j.idsMu.Lock()
	defer j.idsMu.Unlock()
	for len(batch) > 0 {
		ts := &txState{over: map[string]streamMeta{}, gseq: j.gseq, staged: map[string][]byte{}}
		var touched []string
		flushed := false
		err := j.db.Update(func(tx *bolt.Tx) error {
			touched = touched[:0]
			for i, r := range batch {
				seqs, keys, err := j.apply(tx, ts, r.events)
				if err != nil {
					return &errRequest{idx: i, err: err}
				}
				r.seqs = seqs
				touched = append(touched, keys...)
			}
			if len(j.pending)+len(ts.staged) < idFlushAt {
				return nil
			}
			flushed = true
			return j.flushIDs(tx, ts)
		})
		var re *errRequest
		if errors.As(err, &re) {
			r := batch[re.idx]
			r.seqs, r.err = nil, re.err
			close(r.done)
			batch = append(batch[:re.idx:re.idx], batch[re.idx+1:]...)
			continue
		}
		if err != nil {
			for _, r := range batch {
				r.seqs, r.err = nil, fmt.Errorf("journal: commit: %w", err)
				close(r.done)
			}
			return
		}
		var events uint64
		for _, r := range batch {
			events += uint64(len(r.events))
		}
		for k, m := range ts.over {
			j.cache[k] = m
		}
		j.gseq = ts.gseq
		if flushed {
			j.pending = map[string][]byte{}
			j.pendingIdx = j.pendingIdx[:0]
			j.idsThrough = ts.gseq
		} else {
			for id, v := range ts.staged {
				j.pending[id] = v
			}
			j.pendingIdx = append(j.pendingIdx, ts.idx...)
		}
		stored := ts.stored
		j.wake(touched, events, stored) // before the acks, so Stats agrees with them
		for _, r := range batch {
			close(r.done)
		}
		return
	}
}

func (j *Journal) wake(keys []string, events, stored uint64) {
	j.notifyMu.Lock()
	defer j.notifyMu.Unlock()
	j.stats.Commits++
	j.stats.Events += stored
	j.stats.Dedups += events - stored
	for _, k := range keys {
		if ch, ok := j.notify[k]; ok {
			close(ch)
			delete(j.notify, k)
		}
	}
	close(j.allNotify)
	j.allNotify = make(chan struct{})
}

// changed returns a channel closed at the next commit touching key.
func (j *Journal) changed(key string) (<-chan struct{}, error) {
	j.notifyMu.Lock()
	defer j.notifyMu.Unlock()
	if j.isClosedLocked() {
		return nil, ErrClosed
	}
	ch, ok := j.notify[key]
	if !ok {
		ch = make(chan struct{})
		j.notify[key] = ch
	}
	j.waiters[key]++
	return ch, nil
}

// unwait releases a channel taken with changed.
func (j *Journal) unwait(key string) {
	j.notifyMu.Lock()
	defer j.notifyMu.Unlock()
	if j.waiters[key]--; j.waiters[key] > 0 {
		return
	}
	delete(j.waiters, key)
	delete(j.notify, key) // nobody waits on it; a later changed makes a fresh one
}

// Changed returns a channel closed at the next commit of any stream.
func (j *Journal) Changed() <-chan struct{} {
	j.notifyMu.Lock()
	defer j.notifyMu.Unlock()
	return j.allNotify
}

func (j *Journal) isClosedLocked() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// loadMeta returns a stream's state from the batch overlay, the cache or the
// file; ok is false for a stream never written.
func (j *Journal) loadMeta(tx *bolt.Tx, over map[string]streamMeta, key string) (streamMeta, bool, error) {
	if m, ok := over[key]; ok {
		return m, true, nil
	}
	if m, ok := j.cache[key]; ok {
		return m, true, nil
	}
	return readMeta(tx, key)
}

// readMeta reads a stream's meta and derives its head and head digest from
// its last event (or its fork point and the parent's digest there).
func readMeta(tx *bolt.Tx, key string) (streamMeta, bool, error) {
	m, ok, err := readMetaHead(tx, key)
	if err != nil || !ok {
		return m, ok, err
	}
	if m.Head > m.Fork {
		v, err := eventAt(tx, key, m.Head)
		if err != nil {
			return m, false, err
		}
		if m.Digest, err = storedDigest(key, m.Head, v); err != nil {
			return m, false, err
		}
	} else if m.Parent != "" {
		if m.Digest, err = digestAt(tx, nil, nil, splitKey(key).Session+"\x00"+m.Parent, m.Fork); err != nil {
			return m, false, err
		}
	}
	return m, true, nil
}

// readMetaHead is readMeta without the digest.
func readMetaHead(tx *bolt.Tx, key string) (streamMeta, bool, error) {
	v := tx.Bucket(bktStreams).Get([]byte(key))
	if v == nil {
		return streamMeta{}, false, nil
	}
	m, _, err := readMetaBytes(key, v)
	if err != nil {
		return m, false, err
	}
	m.Head = m.Fork
	seq, _, _, ok, err := lastEvent(tx, key)
	if err != nil {
		return m, false, err
	}
	if ok {
		m.Head = seq
	}
	return m, true, nil
}

// evKey is the index key of seq in stream key.
func evKey(key string, seq uint64) []byte {
	b := make([]byte, len(key)+1+8)
	copy(b, key)
	b[len(key)] = 0
	binary.BigEndian.PutUint64(b[len(key)+1:], seq)
	return b
}

// storedDigest extracts the digest metadata of a stored envelope.
func storedDigest(key string, seq uint64, v []byte) (string, error) {
	if v == nil {
		return "", fmt.Errorf("%w: stream %q has no event at seq %d", ErrCorrupt, key, seq)
	}
	var md struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(v, &md); err != nil {
		return "", fmt.Errorf("%w: stream %q seq %d: %v", ErrCorrupt, key, seq, err)
	}
	return md.Metadata[aios.MetaDigest], nil
}

func putMeta(tx *bolt.Tx, over map[string]streamMeta, key string, m streamMeta) error {
	over[key] = m
	b, _ := json.Marshal(m)
	return tx.Bucket(bktStreams).Put([]byte(key), b)
}

// txState is what one commit attempt changes, applied to the journal only
// when the transaction commits.
type txState struct {
	over   map[string]streamMeta
	gseq   uint64
	stored uint64
	staged map[string][]byte // new event ids -> seq(8) + stream key
	idx    []idxEntry        // the index entries of the new events
}

// lookupID finds a stored event id: staged in this tx, pending, or indexed.
func (j *Journal) lookupID(tx *bolt.Tx, ts *txState, id string) []byte {
	if v, ok := ts.staged[id]; ok {
		return v
	}
	if v, ok := j.pending[id]; ok {
		return v
	}
	return tx.Bucket(bktIDs).Get([]byte(id))
}

// flushIDs writes every pending and staged id to the ids bucket, the log
// records since the mark to the stream index, and moves the indexed-through
// mark to the transaction's last gseq.
func (j *Journal) flushIDs(tx *bolt.Tx, ts *txState) error {
	if err := putIndex(tx, slices.Concat(j.pendingIdx, ts.idx)); err != nil {
		return err
	}
	ids := tx.Bucket(bktIDs)
	ids.FillPercent = fillPercent // ULIDs grow with time too
	// in key order: each put then lands next to the last one
	keys := make([]string, 0, len(j.pending)+len(ts.staged))
	for _, m := range []map[string][]byte{j.pending, ts.staged} {
		for id := range m {
			keys = append(keys, id)
		}
	}
	slices.Sort(keys)
	for _, id := range keys {
		v, ok := ts.staged[id]
		if !ok {
			v = j.pending[id]
		}
		if err := ids.Put([]byte(id), v); err != nil {
			return err
		}
	}
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], ts.gseq)
	return tx.Bucket(bktMeta).Put(keyIDsThrough, g[:])
}

// reindexTail puts the ids of the log records after idsThrough (stored
// but not yet indexed when the process stopped) back into pending.
func (j *Journal) reindexTail(tx *bolt.Tx) error {
	c := tx.Bucket(bktLog).Cursor()
	for k, v := c.Seek(gkey(j.idsThrough + 1)); k != nil; k, v = c.Next() {
		key, seq, data, ok := parseLog(v)
		if !ok {
			return fmt.Errorf("%w: log record %x: bad format", ErrCorrupt, k)
		}
		var head struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return fmt.Errorf("%w: stream %q seq %d: %v", ErrCorrupt, key, seq, err)
		}
		idv := make([]byte, 8+len(key))
		binary.BigEndian.PutUint64(idv, seq)
		copy(idv[8:], key)
		j.pending[head.EventID] = idv
		j.pendingIdx = append(j.pendingIdx, idxEntry{key: string(key), seq: seq, g: binary.BigEndian.Uint64(k)})
	}
	return nil
}

// Flush writes the in-memory event id index to the file (durably).
func (j *Journal) Flush(ctx context.Context) error {
	j.idsMu.Lock()
	defer j.idsMu.Unlock()
	if len(j.pending) == 0 {
		return nil
	}
	err := j.db.Update(func(tx *bolt.Tx) error {
		return j.flushIDs(tx, &txState{gseq: j.gseq})
	})
	if err == nil {
		j.pending = map[string][]byte{}
		j.pendingIdx = j.pendingIdx[:0]
		j.idsThrough = j.gseq
	}
	return err
}

// apply writes one request's events into tx.
func (j *Journal) apply(tx *bolt.Tx, ts *txState, batch []prepared) ([]uint64, []string, error) {
	seqs := make([]uint64, len(batch))
	keys := make([]string, 0, 1)
	events := tx.Bucket(bktLog)
	// Keys only grow: fill split pages completely.
	events.FillPercent = 1
	over, gseq := ts.over, &ts.gseq
	for i := range batch {
		p := &batch[i]
		if v := j.lookupID(tx, ts, p.id); len(v) >= 8 {
			if string(v[8:]) != p.key {
				// The other stream is not named: with auth on it may be
				// another tenant's.
				return nil, nil, fmt.Errorf("%w: %s", ErrIDConflict, p.id)
			}
			seqs[i] = binary.BigEndian.Uint64(v)
			continue
		}
		m, ok, err := j.loadMeta(tx, over, p.key)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			*gseq++
			m = streamMeta{Order: *gseq}
			if err := putMeta(tx, over, p.key, m); err != nil {
				return nil, nil, err
			}
		}
		seq := m.Head + 1
		prev, err := decodeDigest(m.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: stream %q head digest: %v", ErrCorrupt, p.key, err)
		}
		*gseq++
		stored, digest := p.seal(seq, prev, logHeader(p.key, seq, len(p.enc)+100))
		if p.branch != nil {
			if err := j.createBranch(tx, over, gseq, p, m.Head); err != nil {
				return nil, nil, err
			}
		}
		if err := events.Put(gkey(*gseq), stored); err != nil {
			return nil, nil, err
		}
		idv := make([]byte, 8+len(p.key))
		binary.BigEndian.PutUint64(idv, seq)
		copy(idv[8:], p.key)
		ts.staged[p.id] = idv
		ts.idx = append(ts.idx, idxEntry{key: p.key, seq: seq, g: *gseq})
		m.Head = seq
		m.Digest = digest
		over[p.key] = m
		seqs[i] = seq
		ts.stored++
		if len(keys) == 0 || keys[len(keys)-1] != p.key {
			keys = append(keys, p.key)
		}
	}
	return seqs, keys, nil
}

// createBranch registers the child stream named by a BranchCreated event
// appended to a parent whose head (before the event) is parentHead.
func (j *Journal) createBranch(tx *bolt.Tx, over map[string]streamMeta, gseq *uint64, p *prepared, parentHead uint64) error {
	bc := p.branch
	child := aios.StreamID{Session: p.stream.Session, Branch: bc.NewBranchID}
	ck := streamKey(child)
	if bc.ForkPointSeq > parentHead {
		return fmt.Errorf("%w: fork point %d past head %d of %s", ErrBranch, bc.ForkPointSeq, parentHead, p.stream.Branch)
	}
	if bc.NewBranchID == p.stream.Branch {
		return fmt.Errorf("%w: branch %q cannot fork itself", ErrBranch, bc.NewBranchID)
	}
	m, ok, err := j.loadMeta(tx, over, ck)
	if err != nil {
		return err
	}
	if ok {
		if m.Parent == p.stream.Branch && m.Fork == bc.ForkPointSeq {
			return nil // same fork recorded again
		}
		return fmt.Errorf("%w: branch %q already exists (parent %q, fork %d)", ErrBranch, bc.NewBranchID, m.Parent, m.Fork)
	}
	digest, err := digestAt(tx, over, j.cache, p.key, bc.ForkPointSeq)
	if err != nil {
		return err
	}
	*gseq++
	return putMeta(tx, over, ck, streamMeta{
		Parent: p.stream.Branch, Fork: bc.ForkPointSeq, Head: bc.ForkPointSeq, Digest: digest, Order: *gseq,
	})
}

// digestAt returns the stored digest of the event at seq in stream key
// (following parents below a fork), "" for seq 0.
func digestAt(tx *bolt.Tx, over, cache map[string]streamMeta, key string, seq uint64) (string, error) {
	for seq > 0 {
		m, ok := over[key]
		if !ok {
			m, ok = cache[key]
		}
		if !ok {
			var err error
			if m, ok, err = readMeta(tx, key); err != nil {
				return "", err
			}
		}
		if !ok {
			return "", fmt.Errorf("%w: stream %q missing", ErrCorrupt, key)
		}
		if seq == m.Head {
			return m.Digest, nil
		}
		if m.Parent != "" && seq <= m.Fork {
			key = splitKey(key).Session + "\x00" + m.Parent
			continue
		}
		v, err := eventAt(tx, key, seq)
		if err != nil {
			return "", err
		}
		return storedDigest(key, seq, v)
	}
	return "", nil
}

func readMetaBytes(key string, v []byte) (streamMeta, bool, error) {
	var m streamMeta
	if err := json.Unmarshal(v, &m); err != nil {
		return m, false, fmt.Errorf("%w: stream %q meta: %v", ErrCorrupt, key, err)
	}
	return m, true, nil
}

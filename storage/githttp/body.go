package githttp

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"sync"

	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// Budget bounds the request bodies held in memory at once: all requests
// together, those of one reader and those from one source address. With
// it, what the HTTP front end buffers is bounded by design, whatever many
// clients send at once, and one reader or address cannot take the room
// every other client needs. A peer without credentials is bounded by its
// address only (see uploadpack.Peer). A nil *Budget bounds nothing (one
// request's own bound still holds).
type Budget struct {
	total, share int64

	mu       sync.Mutex
	used     int64
	byAddr   map[netip.Addr]int64
	byReader map[string]int64
}

// NewBudget allows total bytes of request bodies at once, at most share
// of them for one reader and for one source address (below 1 or above
// total: total).
func NewBudget(total, share int64) *Budget {
	if share < 1 || share > total {
		share = total
	}
	return &Budget{total: total, share: share, byAddr: map[netip.Addr]int64{}, byReader: map[string]int64{}}
}

func (b *Budget) reserve(p uploadpack.Peer, n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.total || b.byAddr[p.Addr]+n > b.share || (p.Reader != "" && b.byReader[p.Reader]+n > b.share) {
		return false
	}
	b.used += n
	b.byAddr[p.Addr] += n
	if p.Reader != "" {
		b.byReader[p.Reader] += n
	}
	return true
}

func (b *Budget) release(p uploadpack.Peer, n int64) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.byAddr[p.Addr] -= n; b.byAddr[p.Addr] <= 0 {
		delete(b.byAddr, p.Addr)
	}
	if p.Reader != "" {
		if b.byReader[p.Reader] -= n; b.byReader[p.Reader] <= 0 {
			delete(b.byReader, p.Reader)
		}
	}
}

// InUse returns the bytes reserved now, for metrics and tests.
func (b *Budget) InUse() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// ChunkSize is the unit a body is buffered (and budgeted) in: memory is
// reserved before it is allocated, so the budget bounds real allocations.
// One reader's or address's share must hold a whole body of the largest
// size allowed and one chunk more, read to find its end.
const ChunkSize = 16 << 10

// Errors readBody returns besides the reader's own.
var (
	errTooLarge = errors.New("request body too large")
	errBusy     = errors.New("too many request bytes buffered")
)

// body is a request body held in budgeted chunks.
type body struct {
	chunks   [][]byte
	size     int64
	reserved int64 // from budget, given back by free
	budget   *Budget
	peer     uploadpack.Peer
}

// readBody reads r to the end into memory reserved from budget for peer,
// failing with errTooLarge past max bytes and errBusy when the budget has
// no room. It never reserves more than max+1 bytes (the one past max tells
// a body too large): the last chunk is cut to fit. The caller must call
// free once the body is no longer needed (also after an error).
func readBody(r io.Reader, max int64, budget *Budget, peer uploadpack.Peer) (*body, error) {
	b := &body{budget: budget, peer: peer}
	for {
		n := min(ChunkSize, max+1-b.size)
		if !budget.reserve(peer, n) {
			return b, errBusy
		}
		b.reserved += n
		buf := make([]byte, n)
		b.chunks = append(b.chunks, buf[:0])
		got, err := io.ReadFull(r, buf)
		b.chunks[len(b.chunks)-1] = buf[:got]
		b.size += int64(got)
		if b.size > max {
			return b, errTooLarge
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return b, nil
		case err != nil:
			return b, err
		}
	}
}

func (b *body) reader() io.Reader {
	rs := make([]io.Reader, len(b.chunks))
	for i, c := range b.chunks {
		rs[i] = bytes.NewReader(c)
	}
	return io.MultiReader(rs...)
}

// free gives the body's memory back to the budget.
func (b *body) free() {
	b.budget.release(b.peer, b.reserved)
	b.chunks, b.reserved = nil, 0
}

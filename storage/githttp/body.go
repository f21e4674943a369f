package githttp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"
)

// Budget bounds the request bodies held in memory at once, all requests
// together and those from one source address: with it, what the HTTP
// front end buffers is bounded by design, whatever many clients send at
// once. A nil *Budget bounds nothing (one request's own bound still holds).
type Budget struct {
	total, perAddr int64

	mu     sync.Mutex
	used   int64
	byAddr map[netip.Addr]int64
}

// NewBudget allows total bytes of request bodies at once, at most perAddr
// of them for one source address (below 1 or above total: total).
func NewBudget(total, perAddr int64) *Budget {
	if perAddr < 1 || perAddr > total {
		perAddr = total
	}
	return &Budget{total: total, perAddr: perAddr, byAddr: map[netip.Addr]int64{}}
}

func (b *Budget) reserve(a netip.Addr, n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.total || b.byAddr[a]+n > b.perAddr {
		return false
	}
	b.used += n
	b.byAddr[a] += n
	return true
}

func (b *Budget) release(a netip.Addr, n int64) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.byAddr[a] -= n; b.byAddr[a] <= 0 {
		delete(b.byAddr, a)
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

// chunkSize is the unit a body is buffered (and budgeted) in: memory is
// reserved before it is allocated, so the budget bounds real allocations.
const chunkSize = 16 << 10

// Errors readBody returns besides the reader's own.
var (
	errTooLarge = errors.New("request body too large")
	errBusy     = errors.New("too many request bytes buffered")
)

// body is a request body held in budgeted chunks.
type body struct {
	chunks [][]byte
	size   int64
	budget *Budget
	addr   netip.Addr
}

// readBody reads r to the end into memory reserved from budget for addr,
// failing with errTooLarge past max bytes and errBusy when the budget has
// no room. The caller must call free once the body is no longer needed
// (also after an error).
func readBody(r io.Reader, max int64, budget *Budget, addr netip.Addr) (*body, error) {
	b := &body{budget: budget, addr: addr}
	for {
		if !budget.reserve(addr, chunkSize) {
			return b, errBusy
		}
		buf := make([]byte, chunkSize)
		b.chunks = append(b.chunks, buf[:0])
		n, err := io.ReadFull(r, buf)
		b.chunks[len(b.chunks)-1] = buf[:n]
		b.size += int64(n)
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
	b.budget.release(b.addr, int64(len(b.chunks))*chunkSize)
	b.chunks = nil
}

// checkPktLines checks that r is a non-empty sequence of well-formed
// pkt-lines (gitprotocol-common(5)): four hex digits of length (0000
// flush, 0001 delimiter and 0002 response-end are the only lengths below
// 4), then that many bytes less four, up to 65520 in all, and nothing
// after the last one.
func checkPktLines(r io.Reader) error {
	var hdr [4]byte
	for i := 0; ; i++ {
		_, err := io.ReadFull(r, hdr[:])
		if err == io.EOF {
			if i == 0 {
				return errors.New("empty request")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("pkt-line %d: truncated length", i+1)
		}
		n, err := strconv.ParseUint(string(hdr[:]), 16, 16)
		switch {
		case err != nil:
			return fmt.Errorf("pkt-line %d: bad length %q", i+1, hdr[:])
		case n <= 2:
			continue
		case n < 4 || n > 65520:
			return fmt.Errorf("pkt-line %d: bad length %q", i+1, hdr[:])
		}
		if m, _ := io.CopyN(io.Discard, r, int64(n)-4); m != int64(n)-4 {
			return fmt.Errorf("pkt-line %d: truncated", i+1)
		}
	}
}

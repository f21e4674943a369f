package githttp

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

func TestReadBodyBudget(t *testing.T) {
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")
	evilA, evilB, flux := uploadpack.Peer{Reader: "evil", Addr: a}, uploadpack.Peer{Reader: "evil", Addr: b}, uploadpack.Peer{Reader: "flux", Addr: b}
	budget := NewBudget(4*ChunkSize, 2*ChunkSize)

	// A body of two chunks fits the share and is returned whole.
	data := bytes.Repeat([]byte("x"), ChunkSize+10)
	got, err := readBody(bytes.NewReader(data), 1<<20, budget, evilA)
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := io.ReadAll(got.reader()); !bytes.Equal(all, data) {
		t.Errorf("read back %d bytes, want %d", len(all), len(data))
	}
	if budget.InUse() != 2*ChunkSize {
		t.Errorf("in use %d, want %d", budget.InUse(), 2*ChunkSize)
	}
	// evil is at its share from address a, and from another address too;
	// flux is not.
	for _, p := range []uploadpack.Peer{evilA, evilB, {Reader: "other", Addr: a}} {
		if more, err := readBody(strings.NewReader("x"), 1<<20, budget, p); err != errBusy {
			t.Errorf("%v over its reader's or address's share: %v, want errBusy", p, err)
		} else {
			more.free()
		}
	}
	other, err := readBody(strings.NewReader("x"), 1<<20, budget, flux)
	if err != nil {
		t.Errorf("flux within its share: %v", err)
	}
	got.free()
	other.free()
	if budget.InUse() != 0 {
		t.Errorf("after free: in use %d", budget.InUse())
	}
	// Anonymous peers are not one reader: one at its address's share
	// leaves room for another from elsewhere.
	anonA, err := readBody(bytes.NewReader(data), 1<<20, budget, uploadpack.Peer{Addr: netip.MustParseAddr("127.0.0.3")})
	if err != nil {
		t.Errorf("anonymous from 127.0.0.3: %v", err)
	}
	if more, err := readBody(strings.NewReader("x"), 1<<20, budget, uploadpack.Peer{Addr: netip.MustParseAddr("127.0.0.3")}); err != errBusy {
		t.Errorf("anonymous over its address's share: %v, want errBusy", err)
	} else {
		more.free()
	}
	anonB, err := readBody(bytes.NewReader(data), 1<<20, budget, uploadpack.Peer{Addr: netip.MustParseAddr("127.0.0.4")})
	if err != nil {
		t.Errorf("anonymous from 127.0.0.4 while 127.0.0.3 held its share: %v", err)
	}
	anonA.free()
	anonB.free()
	if budget.InUse() != 0 {
		t.Errorf("after the anonymous bodies: in use %d", budget.InUse())
	}
	// Past the per-request bound.
	big, err := readBody(bytes.NewReader(data), ChunkSize, budget, flux)
	if err != errTooLarge {
		t.Errorf("over max: %v, want errTooLarge", err)
	}
	big.free()
	if budget.InUse() != 0 {
		t.Errorf("after a refused body: in use %d", budget.InUse())
	}
}

// A body reserves what it holds and at most one byte past the bound,
// never a whole chunk past it.
func TestReadBodyReservesWithinMax(t *testing.T) {
	tests := []struct {
		what         string
		max, size    int64
		wantErr      error
		wantReserved int64
	}{
		{"small bound, small body", 100, 50, nil, 101},
		{"small bound, empty body", 100, 0, nil, 101},
		{"small bound, body over it", 100, 5000, errTooLarge, 101},
		{"bound past a chunk, body at it", ChunkSize + 10, ChunkSize + 10, nil, ChunkSize + 11},
		{"bound past a chunk, body over it", ChunkSize + 10, 3 * ChunkSize, errTooLarge, ChunkSize + 11},
		{"bound of whole chunks, body at it", 2 * ChunkSize, 2 * ChunkSize, nil, 2*ChunkSize + 1},
		{"bound of whole chunks, short body", 2 * ChunkSize, 10, nil, ChunkSize},
	}
	for _, tt := range tests {
		budget := NewBudget(1<<20, 0)
		data := bytes.Repeat([]byte("y"), int(tt.size))
		got, err := readBody(bytes.NewReader(data), tt.max, budget, uploadpack.Peer{Reader: "flux"})
		if err != tt.wantErr {
			t.Errorf("%s: err %v, want %v", tt.what, err, tt.wantErr)
		}
		if n := budget.InUse(); n != tt.wantReserved || n > tt.max+1 {
			t.Errorf("%s: %d bytes reserved, want %d (bound %d)", tt.what, n, tt.wantReserved, tt.max)
		}
		if err == nil {
			if all, _ := io.ReadAll(got.reader()); !bytes.Equal(all, data) {
				t.Errorf("%s: read back %d bytes, want %d", tt.what, len(all), len(data))
			}
		}
		got.free()
		if n := budget.InUse(); n != 0 {
			t.Errorf("%s: %d bytes still reserved after free", tt.what, n)
		}
	}
}

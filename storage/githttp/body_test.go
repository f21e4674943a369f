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
	budget := NewBudget(4*chunkSize, 2*chunkSize)

	// A body of two chunks fits the share and is returned whole.
	data := bytes.Repeat([]byte("x"), chunkSize+10)
	got, err := readBody(bytes.NewReader(data), 1<<20, budget, evilA)
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := io.ReadAll(got.reader()); !bytes.Equal(all, data) {
		t.Errorf("read back %d bytes, want %d", len(all), len(data))
	}
	if budget.InUse() != 2*chunkSize {
		t.Errorf("in use %d, want %d", budget.InUse(), 2*chunkSize)
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
	big, err := readBody(bytes.NewReader(data), chunkSize, budget, flux)
	if err != errTooLarge {
		t.Errorf("over max: %v, want errTooLarge", err)
	}
	big.free()
	if budget.InUse() != 0 {
		t.Errorf("after a refused body: in use %d", budget.InUse())
	}
}

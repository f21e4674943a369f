package uploadpack_test

import (
	"net/netip"
	"testing"

	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

func TestLimiterShares(t *testing.T) {
	a1, a2, a3 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")
	type step struct {
		peer    uploadpack.Peer
		release int // >0: release the slot taken at this 1-based step instead of acquiring
		ok      bool
	}
	tests := []struct {
		name              string
		max, reader, addr int
		steps             []step
	}{
		{"global bound", 2, 2, 2, []step{
			{peer: uploadpack.Peer{"a", a1}, ok: true},
			{peer: uploadpack.Peer{"b", a2}, ok: true},
			{peer: uploadpack.Peer{"c", a3}, ok: false},
			{release: 1},
			{peer: uploadpack.Peer{"c", a3}, ok: true},
		}},
		{"one reader from many addresses", 8, 2, 8, []step{
			{peer: uploadpack.Peer{"evil", a1}, ok: true},
			{peer: uploadpack.Peer{"evil", a2}, ok: true},
			{peer: uploadpack.Peer{"evil", a3}, ok: false},
			{peer: uploadpack.Peer{"flux", a3}, ok: true},
			{release: 2},
			{peer: uploadpack.Peer{"evil", a3}, ok: true},
		}},
		{"many readers from one address", 8, 8, 2, []step{
			{peer: uploadpack.Peer{"a", a2}, ok: true},
			{peer: uploadpack.Peer{"b", a2}, ok: true},
			{peer: uploadpack.Peer{"c", a2}, ok: false},
			{peer: uploadpack.Peer{"c", a1}, ok: true},
		}},
		{"anonymous peers are bounded per address, not as one reader", 8, 1, 1, []step{
			{peer: uploadpack.Peer{"", a1}, ok: true},
			{peer: uploadpack.Peer{"", a2}, ok: true},
			{peer: uploadpack.Peer{"", a1}, ok: false},
			{peer: uploadpack.Peer{"flux", a3}, ok: true},
			{release: 1},
			{peer: uploadpack.Peer{"", a1}, ok: true},
		}},
		{"anonymous peers still count toward the global bound", 2, 1, 1, []step{
			{peer: uploadpack.Peer{"", a1}, ok: true},
			{peer: uploadpack.Peer{"", a2}, ok: true},
			{peer: uploadpack.Peer{"", a3}, ok: false},
		}},
		{"unknown addresses share one address's share", 8, 8, 1, []step{
			{peer: uploadpack.Peer{"a", netip.Addr{}}, ok: true},
			{peer: uploadpack.Peer{"b", netip.Addr{}}, ok: false},
		}},
		{"shares above the global bound are the global bound", 2, 5, 0, []step{
			{peer: uploadpack.Peer{"a", a1}, ok: true},
			{peer: uploadpack.Peer{"a", a1}, ok: true},
			{peer: uploadpack.Peer{"a", a1}, ok: false},
		}},
		{"releasing twice frees one slot", 2, 2, 2, []step{
			{peer: uploadpack.Peer{"a", a1}, ok: true},
			{peer: uploadpack.Peer{"a", a1}, ok: true},
			{release: 1},
			{release: 1},
			{peer: uploadpack.Peer{"a", a1}, ok: true},
			{peer: uploadpack.Peer{"a", a1}, ok: false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := uploadpack.NewLimiter(tt.max, tt.reader, tt.addr)
			releases := map[int]func(){}
			for i, s := range tt.steps {
				if s.release > 0 {
					releases[s.release]()
					continue
				}
				rel, ok := l.TryAcquire(s.peer)
				if ok != s.ok {
					t.Fatalf("step %d: TryAcquire(%v) = %v, want %v (in use %d)", i+1, s.peer, ok, s.ok, l.InUse())
				}
				if ok {
					releases[i+1] = rel
				}
			}
		})
	}
}

func TestPeerAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.2:4242", "127.0.0.2"},
		{"[::ffff:127.0.0.1]:80", "127.0.0.1"},
		// An IPv6 /64 is one source: its host may use any address in it.
		{"[fe80::1%eth0]:22", "fe80::"},
		{"[::1]:22", "::"},
		{"[2001:db8:1:2:aaaa::1]:4000", "2001:db8:1:2::"},
		{"[2001:db8:1:2:bbbb::9]:4001", "2001:db8:1:2::"},
		{"[2001:db8:1:3::1]:4000", "2001:db8:1:3::"},
		{"not an address", "invalid IP"},
		{"", "invalid IP"},
	}
	for _, tt := range tests {
		if got := uploadpack.PeerAddr(tt.in).String(); got != tt.want {
			t.Errorf("PeerAddr(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestNilLimiterLimitsNothing(t *testing.T) {
	var l *uploadpack.Limiter
	for i := 0; i < 100; i++ {
		if _, ok := l.TryAcquire(uploadpack.Peer{}); !ok {
			t.Fatal("nil limiter refused")
		}
	}
}

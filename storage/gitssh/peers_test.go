package gitssh

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestPeerAddr(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4000}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 4000}, "192.0.2.7"},
		// The whole /64 is one source: its host picks any address in it.
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 4000}, "2001:db8:1:2::"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:bbbb::9"), Port: 4001, Zone: "eth0"}, "2001:db8:1:2::"},
		{&net.UnixAddr{Name: "/run/sock", Net: "unix"}, "invalid IP"},
	}
	for _, tt := range tests {
		if got := PeerAddr(tt.addr).String(); got != tt.want {
			t.Errorf("PeerAddr(%v) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}

func TestPeersConnectionBound(t *testing.T) {
	p := newPeers(2, 0, time.Minute)
	now := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	r1, why := p.admit(a, now)
	if why != "" {
		t.Fatalf("first connection refused: %s", why)
	}
	if _, why := p.admit(a, now); why != "" {
		t.Fatalf("second connection refused: %s", why)
	}
	if _, why := p.admit(a, now); why != refusedAddressLimit {
		t.Errorf("third connection from one address: refused %q, want %q", why, refusedAddressLimit)
	}
	if _, why := p.admit(b, now); why != "" {
		t.Errorf("another address refused because of the first: %s", why)
	}
	r1()
	r1() // twice frees one slot only
	if _, why := p.admit(a, now); why != "" {
		t.Errorf("after a close: refused %q", why)
	}
	if _, why := p.admit(a, now); why != refusedAddressLimit {
		t.Errorf("a double release freed two slots: refused %q", why)
	}
}

func TestPeersFailedLogins(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	tests := []struct {
		name     string
		failures []time.Duration // offsets from t0 of failed logins from a
		at       time.Duration   // when a connects
		blocked  bool
	}{
		{"under the limit", []time.Duration{0, time.Second}, 2 * time.Second, false},
		{"at the limit", []time.Duration{0, time.Second, 2 * time.Second}, 3 * time.Second, true},
		{"still blocked just before the window ends", []time.Duration{0, 0, 0}, 59 * time.Second, true},
		{"free again after the window", []time.Duration{0, 0, 0}, 61 * time.Second, false},
		{"failures spread over windows", []time.Duration{0, 30 * time.Second, 70 * time.Second}, 71 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeers(0, 3, time.Minute)
			for _, d := range tt.failures {
				p.failed(a, t0.Add(d))
			}
			_, why := p.admit(a, t0.Add(tt.at))
			if got := why == refusedBlocked; got != tt.blocked {
				t.Errorf("admit after failures at %v, at %v: refused %q, want blocked %v", tt.failures, tt.at, why, tt.blocked)
			}
			if p.blocked(a, t0.Add(tt.at)) != tt.blocked {
				t.Errorf("blocked() disagrees with admit")
			}
			if _, why := p.admit(b, t0.Add(tt.at)); why != "" {
				t.Errorf("another address refused: %s", why)
			}
		})
	}
}

// A scan from many addresses does not grow the table without end.
func TestPeersPrune(t *testing.T) {
	p := newPeers(1, 3, time.Minute)
	t0 := time.Unix(1000, 0)
	for i := range 20000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		release, _ := p.admit(a, now)
		p.failed(a, now)
		release()
	}
	if n := len(p.m); n > 3*4096 {
		t.Errorf("table holds %d addresses after 20000 short-lived ones, want it pruned", n)
	}
}

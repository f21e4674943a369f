package gitssh

import (
	"net/netip"
	"testing"
	"time"
)

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
			p := newPeers(3, time.Minute)
			for _, d := range tt.failures {
				p.failed(a, t0.Add(d))
			}
			if got := p.blocked(a, t0.Add(tt.at)); got != tt.blocked {
				t.Errorf("after failures at %v, at %v: blocked %v, want %v", tt.failures, tt.at, got, tt.blocked)
			}
			if p.blocked(b, t0.Add(tt.at)) {
				t.Errorf("another address blocked")
			}
		})
	}
}

// A scan from many addresses does not grow the table without end.
func TestPeersPrune(t *testing.T) {
	p := newPeers(3, time.Minute)
	t0 := time.Unix(1000, 0)
	for i := range 20000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		p.failed(a, t0.Add(time.Duration(i)*10*time.Millisecond))
	}
	if n := len(p.m); n > 3*4096 {
		t.Errorf("table holds %d addresses after 20000 short-lived ones, want it pruned", n)
	}
}

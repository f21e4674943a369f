package githttp

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckPktLines(t *testing.T) {
	tests := []struct {
		in, wantErr string
	}{
		{"0032want 0123456789012345678901234567890123456789\n0000", ""},
		{"0000", ""},
		{"0014command=ls-refs\n00010000", ""},
		{"0009done\n", ""},
		{"0009DONE\n0002", ""},
		{"", "empty request"},
		{"00", "truncated length"},
		{"zzzz", "bad length"},
		{"0003", "bad length"},
		{"+004", "bad length"},
		{"\x10\x10\x10\x10", "bad length"},
		{"ffff" + strings.Repeat("x", 65531), "bad length"},
		{"0009don", "truncated"},
		{"0009done\n0", "truncated length"},
	}
	for _, tt := range tests {
		err := checkPktLines(strings.NewReader(tt.in))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if (tt.wantErr == "") != (err == nil) || !strings.Contains(got, tt.wantErr) {
			t.Errorf("checkPktLines(%.20q) = %v, want error containing %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestReadBodyBudget(t *testing.T) {
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")
	budget := NewBudget(4*chunkSize, 2*chunkSize)

	// A body of two chunks fits a's share and is returned whole.
	data := bytes.Repeat([]byte("x"), chunkSize+10)
	got, err := readBody(bytes.NewReader(data), 1<<20, budget, a)
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := io.ReadAll(got.reader()); !bytes.Equal(all, data) {
		t.Errorf("read back %d bytes, want %d", len(all), len(data))
	}
	if budget.InUse() != 2*chunkSize {
		t.Errorf("in use %d, want %d", budget.InUse(), 2*chunkSize)
	}
	// a is at its share; b is not.
	if more, err := readBody(strings.NewReader("x"), 1<<20, budget, a); err != errBusy {
		t.Errorf("over a's share: %v, want errBusy", err)
	} else {
		more.free()
	}
	other, err := readBody(strings.NewReader("x"), 1<<20, budget, b)
	if err != nil {
		t.Errorf("b within its share: %v", err)
	}
	got.free()
	other.free()
	if budget.InUse() != 0 {
		t.Errorf("after free: in use %d", budget.InUse())
	}
	// Past the per-request bound.
	big, err := readBody(bytes.NewReader(data), chunkSize, budget, b)
	if err != errTooLarge {
		t.Errorf("over max: %v, want errTooLarge", err)
	}
	big.free()
	if budget.InUse() != 0 {
		t.Errorf("after a refused body: in use %d", budget.InUse())
	}
}

package uploadpack_test

import (
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

func TestCheckRequest(t *testing.T) {
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
		err := uploadpack.CheckRequest(strings.NewReader(tt.in))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if (tt.wantErr == "") != (err == nil) || !strings.Contains(got, tt.wantErr) {
			t.Errorf("uploadpack.CheckRequest(%.20q) = %v, want error containing %q", tt.in, err, tt.wantErr)
		}
	}
}

package gitid

import (
	"strings"
	"testing"
)

func TestIDs(t *testing.T) {
	sha1 := "0123456789abcdef0123456789abcdef01234567"
	sha256 := strings.Repeat("9f", 32)
	tests := []struct {
		what, s               string
		lowerHex, sha1, objID bool
	}{
		{"SHA-1", sha1, true, true, true},
		{"SHA-256", sha256, true, false, true},
		{"empty", "", false, false, false},
		{"one digit", "a", true, false, false},
		{"odd length", "abc", true, false, false},
		{"39 digits", sha1[:39], true, false, false},
		{"41 digits", sha1 + "0", true, false, false},
		{"63 digits", sha256[:63], true, false, false},
		{"65 digits", sha256 + "0", true, false, false},
		{"upper case SHA-1", strings.ToUpper(sha1), false, false, false},
		{"one upper-case digit", "A" + sha1[1:], false, false, false},
		{"g", "g" + sha1[1:], false, false, false},
		{"space", " " + sha1[1:], false, false, false},
		{"trailing newline", sha1[:39] + "\n", false, false, false},
		{"0x prefix", "0x" + sha1[2:], false, false, false},
		{"non-ASCII", "é" + sha1[2:], false, false, false},
		{"NUL", "\x00" + sha1[1:], false, false, false},
		{"abbreviated", sha1[:7], true, false, false},
		{"ref name", "refs/heads/main", false, false, false},
	}
	for _, tt := range tests {
		if got := IsLowerHex(tt.s); got != tt.lowerHex {
			t.Errorf("IsLowerHex(%q) (%s) = %v, want %v", tt.s, tt.what, got, tt.lowerHex)
		}
		if got := IsSHA1(tt.s); got != tt.sha1 {
			t.Errorf("IsSHA1(%q) (%s) = %v, want %v", tt.s, tt.what, got, tt.sha1)
		}
		if got := IsObjectID(tt.s); got != tt.objID {
			t.Errorf("IsObjectID(%q) (%s) = %v, want %v", tt.s, tt.what, got, tt.objID)
		}
	}
}

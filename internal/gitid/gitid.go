// Package gitid is the one definition of a git object id written as text:
// lowercase hex digits, 40 of them for SHA-1 and 64 for SHA-256, as git
// prints them and as refs, pkt-lines and audit records hold them.
//
// It never accepts upper case. Where an id comes from a person or from
// Gerrit and upper case is harmless (it is parsed into a hash before use),
// the caller lower-cases it first; where the text itself is checked (a ref
// file, a record, a client's want line), upper case is not what git wrote
// and is refused. It imports nothing of ours, so any package may use it.
package gitid

// IsLowerHex reports whether s is not empty and only lowercase hex digits,
// the alphabet of git's ids (and of Gerrit's internal group UUIDs).
func IsLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// IsSHA1 reports whether s is a full SHA-1 object id: 40 lowercase hex
// digits. Repositories here are SHA-1, so this is what a commit id is.
func IsSHA1(s string) bool { return len(s) == 40 && IsLowerHex(s) }

// IsObjectID reports whether s is a full object id of either hash git
// knows: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
func IsObjectID(s string) bool { return (len(s) == 40 || len(s) == 64) && IsLowerHex(s) }

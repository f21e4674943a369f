// Package access is the list of who may read which gated projects: named
// readers with project globs, SSH public keys and hashed tokens, plus the
// projects anyone may read. A Watcher reloads the file when it changes and
// keeps the last good list when an edit is broken.
//
// It never stores, logs or returns a token in the clear (only sha256
// hashes are kept and compared, in constant time), and never puts a key or
// token into an error message.
package access

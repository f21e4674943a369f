// Package packcache keeps the answers of git upload-pack to clone
// requests on disk, so that a shallow clone of an unchanged tip is served
// from a file instead of a new pack computed by git each time, and
// prepares the clone Flux will ask for right after the gate moves a
// deploy branch.
//
// An answer is kept under a key made of everything that decides its bytes:
// the repository directory, the state of its refs and its configuration
// (read from disk), the git binary's version and the served settings, the
// protocol version, and the request itself with only the client's agent
// (and session id) left out, which git reads for its logs only. Only
// requests answered in one round are kept: wants, optional shallows and
// deepen, no haves, and "done"; anything else is left to git (see
// Cacheable).
//
// Files are written whole to a temporary name, synced and renamed, and
// carry their own size and CRC-32C, checked before every answer: a file
// cut short by a crash or damaged on disk is deleted and the answer
// computed again. Everything is bounded: the bytes on disk (least recently
// used answers go first), the requests it keys, and one computation per
// key at a time, which every identical request waits for; when it fails,
// they run git themselves.
//
// It must never serve an answer computed for another repository or another
// state of the refs: an answer is stored only if the refs read before git
// ran are still the refs on disk after it ended, and no change was
// notified in between.
package packcache

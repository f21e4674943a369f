// Package refadv answers ref checks from memory: the ref advertisement of
// protocol v0 and v1 (GET info/refs, and the start of an SSH
// conversation), the protocol v2 capability advertisement, and v2
// ls-refs, as C git's `git upload-pack` would answer
// them for the same refs and served settings, without starting a process
// or taking a clone slot.
//
// What it remembers of a served repository comes from C git itself
// (upload-pack with storage/uploadpack's settings), once per state of the
// refs: a Snapshot. storage tells the Cache when a served repository's
// refs or HEAD change (storage.Store.NotifyRefs), before the change is
// reported done, so no client is answered with refs older than an advance
// that has completed. The gate is the only writer of served repositories,
// which is what makes remembering safe. Nothing is kept across restarts:
// after a start, the first ref check of each repository takes its
// snapshot (once, however many clients ask at that moment).
//
// An answer depends on the repository directory and the request only, the
// same for every client: a front end that ran git with settings that vary
// by client (hidden refs per reader, say) could not use it.
//
// It must never answer what it cannot reproduce exactly: a request with
// anything it does not know (another GIT_PROTOCOL, another v2 command, an
// argument or capability it does not model) is declined, and the front end
// runs C git as before. It never serves one repository's refs for
// another: everything is kept per repository directory.
package refadv

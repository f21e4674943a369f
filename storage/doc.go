// Package storage owns the bare repositories under the data directory: one
// upstream mirror and one served repository per Gerrit project, and beside
// the served one a repository per environment (envrepo.go) for readers
// granted that environment alone.
//
// The two are separate object stores on purpose. The upstream mirror holds
// everything Gerrit has; the served repository holds only objects reachable
// from commits that passed the gate, so no client can fetch an ungated object
// by any protocol version (C git's protocol v2 serves any object in the store,
// hidden refs or not). For the same reason an environment's repository
// holds only what that environment's refs reach, and follows the served
// repository, never leading it.
//
// Refs that clients read are only ever written through Repo.UpdateRefs:
// lock file, fsync, compare-and-swap, rename, with a journal making several
// refs change together; Store.NotifyRefs tells the front ends before the
// call returns, so none serves refs older than a completed update.
// storage never rewinds a deploy/* ref unless the update is explicitly
// forced (RefUpdate.Force, set only by an operator's recorded rewind, and
// by an environment repository following its served repository), and
// moves an audit/* ref only to a commit whose one parent is its current
// tip (an appended record), forced or not, except in an environment
// repository, which takes its served repository's refs as they are.
package storage

// Package storage owns the bare repositories under the data directory: one
// upstream mirror and one served repository per Gerrit project.
//
// The two are separate object stores on purpose. The upstream mirror holds
// everything Gerrit has; the served repository holds only objects reachable
// from commits that passed the gate, so no client can fetch an ungated object
// by any protocol version (C git's protocol v2 serves any object in the store,
// hidden refs or not).
//
// Refs that clients read are only ever written through Repo.UpdateRefs:
// lock file, fsync, compare-and-swap, rename, with a journal making several
// refs change together; Store.NotifyRefs tells the front ends before the
// call returns, so none serves refs older than a completed update.
// storage never rewinds a deploy/* ref unless the update is explicitly
// forced (RefUpdate.Force, set only by an operator's recorded rewind), and
// moves an audit/* ref only to a commit whose one parent is its current
// tip (an appended record), forced or not.
package storage

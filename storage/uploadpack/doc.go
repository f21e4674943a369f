// Package uploadpack is what the read-only front ends (storage/githttp and
// storage/gitssh) share about serving a clone: the fair clone Limiter
// with its Peer and PeerAddr, starting `git upload-pack` in a clean
// environment with the settings that keep unserved objects and
// gerritgate's own refs from clients, and the checks on what a client
// sends before git sees it (its GIT_PROTOCOL, its request's pkt-lines).
//
// It must never run anything but git upload-pack, never pass our own
// environment (and so a secret in it) or a client's words to git other
// than a checked GIT_PROTOCOL and the request on stdin, and never let a
// client turn the served settings off. It knows nothing of HTTP or SSH: the
// front ends carry the bytes, decide who is asking and answer refusals.
package uploadpack

// Package gitssh is the read-only SSH front end: it serves the gated
// repositories to Flux and C git with `git upload-pack`, after checking the
// client's public key with an Authorizer on every command.
//
// It must never run anything but git upload-pack, never hand a command line
// to a shell, and never offer what an SSH server usually does besides:
// shells, ptys, subsystems (sftp), port or agent forwarding, X11. A project
// a reader may not see is answered exactly like a missing one. Keys are
// never logged.
package gitssh

// Package gerrittest is a simulated Gerrit: accounts, groups, projects held
// in real bare git repositories, changes with patch sets, votes, submit
// requirements and every submit type, served over Gerrit's REST API (JSON
// shaped as Gerrit shapes it), git smart HTTP and, optionally, git over SSH.
//
// It is faithful where gerritgate depends on Gerrit's behaviour (see the
// Gerrit notes in the project's shared notes) and cheap everywhere else:
// state lives in memory, only the repositories are on disk, and git writes
// go through C git. It serves tests and the `gerritgate demo` command, so it
// must never import package testing.
//
// It never accepts pushes: the test drives it through its Go API
// (CreateChange, Vote, Submit, DirectPush, ...), as people would drive a
// real Gerrit.
package gerrittest

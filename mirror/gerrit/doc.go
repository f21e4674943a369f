// Package gerrit is a small typed client for the parts of Gerrit's REST API
// that gerritgate needs: finding the changes behind commits, their votes
// and submit requirements, group membership, whether an account may read a
// branch (check.access), the project list and the server version, and following the event stream. The only thing the
// service writes to Gerrit is a message on each change that reached an
// environment (PostMessage).
//
// It speaks Gerrit's JSON as documented (the )]}' prefix, its timestamp
// format, label value keys such as " 0") and converts what the gate decides
// on into gate.Change. It never puts credentials into an error, a log line
// or a URL, and it bounds every response it reads.
//
// The subpackage gerrittest is a simulated Gerrit for tests and demos.
package gerrit

// Package deploy decides and performs each advance of a deploy/<env> branch:
// it walks the upstream range, asks Gerrit about its commits, lets
// gate.Evaluate decide, copies the approved objects into the served
// repository and moves the ref by compare-and-swap. It never moves a deploy
// ref backwards and never advances when anything it needs is missing: an
// unreachable Gerrit, an unknown commit or a failed copy all leave the ref
// where it is.
package deploy

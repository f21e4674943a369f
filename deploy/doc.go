// Package deploy decides and performs each advance of a deploy/<env> branch:
// it walks the upstream range, asks Gerrit about its commits, lets
// gate.Evaluate decide, asks Gerrit again about the commits that would
// enter and decides again, copies the approved objects into the served
// repository and moves the ref by compare-and-swap. It never moves a deploy
// ref backwards on its own (only an operator's recorded rewind does) and
// never advances when anything it needs is missing: an
// unreachable Gerrit, an unknown commit or a failed copy all leave the ref
// where it is.
//
// One file per job: result.go (targets, reasons, results), load.go (the
// loading step Reconcile, Explain and Adopt share), reconcile.go (the
// state machine), evidence.go (what Gerrit and the repository say about a
// range), recheck.go (asking Gerrit again right before each move),
// pending.go (walking the commit graph, with its ancestor cache), merge.go
// (merge checks), advance.go (copying objects and moving refs),
// explain.go, adopt.go, hold.go, override.go (override and rewind),
// debt.go (an override's debt and its payment). Time comes from the
// Deployer's clock (WithClock).
package deploy

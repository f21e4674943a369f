// Package audit is the audit trail of the served repositories: the record
// format, building the signed audit commits and the signed per-environment
// tag, and verifying a trail offline from nothing but a clone.
//
// Every movement of refs/heads/deploy/<env> appends one commit to
// refs/heads/audit/<env> whose tree holds record.json (Record); deploy
// writes it with Write and moves both refs in one transaction. Verify reads
// a repository and checks that the records cover the deploy history exactly
// once, chain, are signed by the given key and, with Recheck, that the
// recorded evidence supports each recorded verdict (gate.Evaluate again).
//
// audit never talks to Gerrit, never moves a ref and never reads the
// service's data directory: it takes an object storer, so the same code
// serves the running service and an auditor's clone.
package audit

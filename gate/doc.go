// Package gate holds the approval policy and the pure decision over it.
//
// ParsePolicy reads the policy YAML strictly. Evaluate decides, from the
// policy, a range of commits and what Gerrit said about them, which commits
// are approved and how far a deploy branch may advance, with the evidence
// for every rule. Evaluate does no I/O and never guesses: anything it cannot
// account for is not approved.
package gate

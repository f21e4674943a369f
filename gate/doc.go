// Package gate holds the approval policy and the pure decision over it.
//
// ParsePolicy reads the policy YAML strictly: unknown keys, wrong types,
// undefined or cyclic policy names, bad globs and bad vote values are
// errors at file:line:column, and policies that extend others are resolved
// once, there. Config.Match says which entries apply to a project when
// entries name projects by pattern.
//
// Evaluate decides, from a policy, a range of commits and what Gerrit said
// about them (changes, votes, messages, submit requirements), plus what the
// caller looked up (changed files, group members), which commits are
// approved and how far a deploy branch may advance, with the evidence for
// every rule. Evaluate does no I/O and never guesses: anything it cannot
// account for (an unknown status or change kind, a vote it cannot tie to a
// patch set, a group nobody resolved, files nobody listed) is not approved.
// It must never approve a commit whose code no counted vote reviewed.
//
// Environments carry time rules (envrules.go): after and soak (the
// promotion order, a DAG within a repo entry), windows in a timezone and
// freezes. Schedule.HeldAt and Soaked decide them, as purely as Evaluate:
// the caller passes now, and, for Soaked, the times the upstream
// environment's deploy branch came to contain each commit (its audit
// trail; deploy reads them). Evaluate does not look at them.
//
// The JSON form of Range, Policy and Decision is the evidence of the
// signed audit records (package audit, docs/audit.md): changing a json tag
// changes the record format and needs a new audit schema version.
package gate

package gate

import (
	"fmt"
	"strings"
)

// ownersRule: every changed file that matches an owners entry has a counted
// Code-Review vote at or above its min by a member of one of that entry's
// groups. A file matching several entries needs each of them. Files no
// entry matches need nothing more. A group the caller could not resolve
// fails every entry that applies to the commit and names it, even when a
// member of another group approved: an unresolvable group is a
// configuration or permission error to fix, not something to route around.
func ownersRule(p *Policy, rv *review, files []string, known bool, groups map[string][]Account, groupErrors map[string]string) Rule {
	if !known {
		return rule(RuleOwners, false, "the files this commit changes are unknown, so owner rules cannot be checked")
	}
	min := p.Labels[ReviewLabel].Min
	votes := rv.ballots(ReviewLabel, min)
	var ok, bad []string
	for _, o := range p.Owners {
		var matched []string
		for _, f := range files {
			for _, pat := range o.Paths {
				if matchPath(pat, f) {
					matched = append(matched, f)
					break
				}
			}
		}
		if len(matched) == 0 {
			continue
		}
		what := fmt.Sprintf("%s (%s)", strings.Join(o.Paths, ", "), fileList(matched))
		var unresolved []string
		member := map[int][]string{} // account ID -> its groups among o.Groups
		var members []string
		for _, g := range o.Groups {
			ms, resolved := groups[g]
			if !resolved {
				unresolved = append(unresolved, g)
				continue
			}
			for _, m := range ms {
				if m.ID <= 0 {
					continue
				}
				if len(member[m.ID]) == 0 {
					members = append(members, m.Display())
				}
				member[m.ID] = append(member[m.ID], g)
			}
		}
		var approved, discounted []string
		approvers := map[int]bool{}
		for _, b := range votes {
			gs := member[b.Account.ID]
			if len(gs) == 0 {
				continue
			}
			s := fmt.Sprintf("%s, member of %s", b.String(), strings.Join(gs, ", "))
			if b.Counts {
				approvers[b.Account.ID] = true
				approved = append(approved, s)
			} else {
				discounted = append(discounted, s)
			}
		}
		need := fmt.Sprintf("%s needs %s %s or more by a member of %s", what, ReviewLabel, FormatValue(min), strings.Join(o.Groups, " or "))
		if o.Approvals > 1 {
			need = fmt.Sprintf("%s needs %s %s or more by %d distinct members of %s", what, ReviewLabel, FormatValue(min), o.Approvals, strings.Join(o.Groups, " or "))
		}
		switch {
		case len(unresolved) > 0:
			var why []string
			for _, g := range unresolved {
				if e := groupErrors[g]; e != "" {
					why = append(why, e)
				}
			}
			msg := fmt.Sprintf("%s: group %s could not be resolved", need, strings.Join(unresolved, ", "))
			if len(why) > 0 {
				msg += " (" + strings.Join(why, "; ") + ")"
			}
			bad = append(bad, msg)
		case len(approvers) > 0 && len(approvers) < o.Approvals:
			bad = append(bad, fmt.Sprintf("%s: only %d: %s", need, len(approvers), strings.Join(append(approved, discounted...), "; ")))
		case len(approved) > 0:
			ok = append(ok, fmt.Sprintf("%s approved by %s", what, strings.Join(approved, "; ")))
		case len(discounted) > 0:
			bad = append(bad, fmt.Sprintf("%s: %s", need, strings.Join(discounted, "; ")))
		case len(members) == 0:
			bad = append(bad, fmt.Sprintf("%s: the group has no members", need))
		default:
			bad = append(bad, fmt.Sprintf("%s: no member voted (members: %s)", need, nameList(members)))
		}
	}
	if len(bad) > 0 {
		detail := strings.Join(bad, "; ")
		if len(ok) > 0 {
			detail += "; " + strings.Join(ok, "; ")
		}
		return rule(RuleOwners, false, "%s", detail)
	}
	if len(ok) == 0 {
		return rule(RuleOwners, true, "none of the %d changed files has owners", len(files))
	}
	return rule(RuleOwners, true, "%s", strings.Join(ok, "; "))
}

// fileList names a few files: details are read by people.
func fileList(files []string) string {
	const show = 5
	if len(files) <= show {
		return strings.Join(files, ", ")
	}
	return fmt.Sprintf("%s and %d more files", strings.Join(files[:show], ", "), len(files)-show)
}

func nameList(names []string) string {
	const show = 10
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

package gate

import (
	"fmt"
	"strings"
)

// Summary says in lines for people what a commit needs under p, every
// rule included (those that always apply too), in a stable order.
func (p *Policy) Summary() []string {
	var out []string
	out = append(out, "merged through Gerrit submit (not a direct push), as the merged patch set of its change")
	for _, l := range sortedKeys(p.Labels) {
		out = append(out, fmt.Sprintf("needs %s %s or more", l, FormatValue(p.Labels[l].Min)))
	}
	if p.Approvers > 0 {
		out = append(out, fmt.Sprintf("needs %s %s or more from %d distinct accounts", ReviewLabel, FormatValue(p.Labels[ReviewLabel].Min), p.Approvers))
	}
	for _, o := range p.Owners {
		out = append(out, fmt.Sprintf("changes to %s need %s %s or more from a member of %s",
			strings.Join(o.Paths, ", "), ReviewLabel, FormatValue(p.Labels[ReviewLabel].Min), strings.Join(o.Groups, " or ")))
	}
	r := p.SubmitRequirements
	overridden := "OVERRIDDEN and FORCED do not count"
	if p.AllowOverridden {
		overridden = "OVERRIDDEN and FORCED count"
	}
	if r.AllApplicable {
		out = append(out, fmt.Sprintf("every submit requirement SATISFIED or NOT_APPLICABLE (%s)", overridden))
	}
	if len(r.Names) > 0 {
		out = append(out, fmt.Sprintf("submit requirements %s SATISFIED (%s)", strings.Join(r.Names, ", "), overridden))
	}
	for _, l := range sortedKeys(p.Vetoes) {
		out = append(out, fmt.Sprintf("blocked by any %s vote of %s or less, votes after submit included", l, FormatValue(p.Vetoes[l])))
	}
	if p.SelfApproval {
		out = append(out, "votes by the change owner and the uploader of the reviewed patch set count")
	} else {
		out = append(out, "votes by the change owner and the uploader of the reviewed patch set do not count")
	}
	out = append(out, "a vote cast on an earlier patch set counts only if every later one up to the merged patch set is "+strings.Join(copySafeKinds(), ", ")+": the code it reviewed is the code that merged")
	return out
}

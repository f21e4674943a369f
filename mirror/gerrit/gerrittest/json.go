package gerrittest

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// timeLayout is Gerrit's JSON timestamp format.
const timeLayout = "2006-01-02 15:04:05.000000000"

func formatTS(t time.Time) string { return t.UTC().Format(timeLayout) }

// formatLabelValue formats a label value as Gerrit's "values" keys do.
func formatLabelValue(v int) string {
	switch {
	case v > 0:
		return "+" + strconv.Itoa(v)
	case v == 0:
		return " 0"
	}
	return strconv.Itoa(v)
}

// options are the o= parameters of a change request.
type options map[string]bool

// knownOptions are Gerrit's ListChangesOption names; unknown ones are a 400
// as in Gerrit. Those not simulated are accepted and ignored.
var knownOptions = map[string]bool{
	"LABELS": true, "DETAILED_LABELS": true, "CURRENT_REVISION": true, "ALL_REVISIONS": true,
	"CURRENT_COMMIT": true, "ALL_COMMITS": true, "CURRENT_FILES": true, "ALL_FILES": true,
	"DETAILED_ACCOUNTS": true, "MESSAGES": true, "CURRENT_ACTIONS": true, "CHANGE_ACTIONS": true,
	"REVIEWED": true, "SUBMITTABLE": true, "WEB_LINKS": true, "CHECK": true, "COMMIT_FOOTERS": true,
	"PUSH_CERTIFICATES": true, "REVIEWER_UPDATES": true, "TRACKING_IDS": true, "SKIP_MERGEABLE": true,
	"SKIP_DIFFSTAT": true, "SUBMIT_REQUIREMENTS": true, "DOWNLOAD_COMMANDS": true, "PARENTS": true,
	"CUSTOM_KEYED_VALUES": true, "STAR": true,
}

func parseOptions(values []string) (options, error) {
	o := options{}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			name := strings.ToUpper(strings.TrimSpace(part))
			if !knownOptions[name] {
				return nil, errorf(400, "\"%s\" is not a valid value for \"-o\"", part)
			}
			o[name] = true
		}
	}
	return o, nil
}

func (s *Server) acctJSON(id int, detailed bool) map[string]any {
	return accountJSON(s.accountByID(id), detailed)
}

// changeJSON renders a ChangeInfo. Callers hold mu.
func (s *Server) changeJSON(c *change, o options) map[string]any {
	da := o["DETAILED_ACCOUNTS"]
	cur := c.current()
	out := map[string]any{
		"id":                       url.PathEscape(c.project.name) + "~" + strconv.Itoa(c.number),
		"triplet_id":               url.PathEscape(c.project.name) + "~" + url.PathEscape(c.branch) + "~" + c.changeID,
		"project":                  c.project.name,
		"branch":                   c.branch,
		"hashtags":                 []string{},
		"change_id":                c.changeID,
		"subject":                  c.subject,
		"status":                   c.status,
		"created":                  formatTS(c.created),
		"updated":                  formatTS(c.updated),
		"insertions":               cur.insertions,
		"deletions":                cur.deletions,
		"total_comment_count":      0,
		"unresolved_comment_count": 0,
		"has_review_started":       true,
		"_number":                  c.number,
		"virtual_id_number":        c.number,
		"requirements":             []any{},
		"owner":                    s.acctJSON(c.owner, da),
		"current_revision_number":  cur.number,
	}
	if c.topic != "" {
		out["topic"] = c.topic
	}
	if c.status == StatusNew {
		out["mergeable"] = true
	}
	if c.submissionID != "" {
		out["submission_id"] = c.submissionID
	}
	if !c.submitted.IsZero() {
		out["submitted"] = formatTS(c.submitted)
		out["submitter"] = s.acctJSON(c.submitter, da)
	}
	if o["LABELS"] || o["DETAILED_LABELS"] {
		out["labels"] = s.labelsJSON(c, o)
	}
	if o["SUBMIT_REQUIREMENTS"] {
		out["submit_requirements"] = requirementsJSON(s.requirements(c))
	}
	if o["CURRENT_REVISION"] || o["ALL_REVISIONS"] {
		out["current_revision"] = cur.sha
		revs := map[string]any{}
		for _, ps := range c.patchSets {
			if ps != cur && !o["ALL_REVISIONS"] {
				continue
			}
			revs[ps.sha] = s.revisionJSON(c, ps, o["ALL_COMMITS"] || (o["CURRENT_COMMIT"] && ps == cur), da)
		}
		out["revisions"] = revs
	}
	if o["MESSAGES"] {
		msgs := make([]any, 0, len(c.messages))
		for _, m := range c.messages {
			mj := map[string]any{
				"id":                  m.id,
				"date":                formatTS(m.date),
				"message":             m.text,
				"_revision_number":    m.ps,
				"accounts_in_message": []any{},
			}
			if m.author != 0 {
				mj["author"] = s.acctJSON(m.author, da)
			}
			if m.tag != "" {
				mj["tag"] = m.tag
			}
			msgs = append(msgs, mj)
		}
		out["messages"] = msgs
	}
	return out
}

func person(id ident) map[string]any {
	return map[string]any{"name": id.Name, "email": id.Email, "date": formatTS(id.When.Truncate(time.Second)), "tz": 0}
}

func (s *Server) revisionJSON(c *change, ps *patchSet, withCommit, da bool) map[string]any {
	r := map[string]any{
		"kind":     ps.kind,
		"_number":  ps.number,
		"created":  formatTS(ps.created),
		"uploader": s.acctJSON(ps.uploader, da),
		"ref":      changeRef(c.number, ps.number),
		"fetch":    map[string]any{},
		"branch":   "refs/heads/" + c.branch,
	}
	if ps.description != "" {
		r["description"] = ps.description
	}
	if ps.conflicts != nil {
		r["conflicts"] = map[string]any{
			"base": ps.conflicts.base, "ours": ps.conflicts.ours, "theirs": ps.conflicts.theirs,
			"merge_strategy": "recursive", "contains_conflicts": false,
		}
	}
	if withCommit {
		parents := make([]any, len(ps.parents))
		for i, p := range ps.parents {
			parents[i] = map[string]any{"commit": p, "subject": ps.parentSubjects[i]}
		}
		r["commit"] = map[string]any{
			"parents":   parents,
			"author":    person(ps.author),
			"committer": person(ps.committer),
			"subject":   firstLine(ps.message),
			"message":   ps.message,
		}
	}
	return r
}

// labelsJSON renders labels the way Gerrit's LabelsJson does: approved,
// rejected, recommended and disliked from the current patch set's votes;
// "all" lists, for open changes, every reviewer and everyone who ever
// voted (0 placeholders included), and for merged changes everyone who
// ever voted; "values" and permitted ranges with DETAILED_LABELS.
//
// As the project notes say of servers since 3.6, "all" is included with
// LABELS too.
func (s *Server) labelsJSON(c *change, o options) map[string]any {
	da := o["DETAILED_ACCOUNTS"]
	detailed := o["DETAILED_LABELS"]
	merged := c.status == StatusMerged
	cur := c.currentApprovals()

	users := map[int]bool{}
	for _, byLabel := range c.approvals {
		for _, byAcct := range byLabel {
			for acct := range byAcct {
				users[acct] = true
			}
		}
	}
	if merged {
		// The submitter holds Gerrit's hidden SUBM approval, so it is
		// listed (0 placeholders) even without a vote.
		if c.submitter != 0 {
			users[c.submitter] = true
		}
	} else {
		for acct := range c.reviewers {
			users[acct] = true
		}
	}
	ids := make([]int, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	// Gerrit 3.13.5 lists accounts, and scores them, in descending id
	// order (a hash set of small ints, in practice).
	sort.Sort(sort.Reverse(sort.IntSlice(ids)))

	out := map[string]any{}
	for _, l := range c.project.labels {
		// Labels of new sites have function NoBlock: optional for the
		// legacy submit records; submit requirements decide.
		info := map[string]any{"optional": true}
		// approved/rejected/... as setLabelScores: the first decisive vote
		// in that order wins.
		votes := make([]int, 0, len(cur[l.Name]))
		for acct := range cur[l.Name] {
			votes = append(votes, acct)
		}
		sort.Sort(sort.Reverse(sort.IntSlice(votes)))
		for _, acct := range votes {
			if info["approved"] != nil || info["rejected"] != nil {
				break
			}
			v := cur[l.Name][acct].value
			switch {
			case v == l.min() && v < 0:
				info["rejected"] = s.acctJSON(acct, da)
				info["blocking"] = true
			case v == l.max() && v > 0:
				info["approved"] = s.acctJSON(acct, da)
			case v < 0:
				info["disliked"] = s.acctJSON(acct, da)
				info["value"] = v
			case v > 0 && info["disliked"] == nil:
				info["recommended"] = s.acctJSON(acct, da)
				info["value"] = v
			}
		}
		all := make([]any, 0, len(ids))
		for _, acct := range ids {
			a := s.acctJSON(acct, da)
			a["value"] = 0
			ap, voted := cur[l.Name][acct]
			if voted {
				a["value"] = ap.value
				a["date"] = formatTS(ap.date)
				if ap.tag != "" {
					a["tag"] = ap.tag
				}
				if ap.postSubmit {
					a["post_submit"] = true
				}
			}
			// On merged changes Gerrit gives a range only with an actual vote.
			if detailed && (voted || !merged) {
				if r := permittedRange(l, merged, ap.value); r != nil {
					a["permitted_voting_range"] = r
				}
			}
			all = append(all, a)
		}
		if len(all) > 0 {
			info["all"] = all
		}
		if detailed {
			values := map[string]string{}
			for v, text := range l.Values {
				values[formatLabelValue(v)] = text
			}
			info["values"] = values
			info["default_value"] = 0
		}
		out[l.Name] = info
	}
	return out
}

// permittedRange is what an account may still vote: every value while the
// change is open; on a merged change only values not below its vote, and
// nothing when that leaves only 0 or the label refuses post-submit votes.
func permittedRange(l Label, merged bool, prev int) map[string]int {
	lo, hi := l.min(), l.max()
	if merged {
		if l.DisallowPostSubmit {
			return nil
		}
		lo = max(lo, prev)
		if lo == 0 && hi == 0 {
			return nil
		}
	}
	return map[string]int{"min": lo, "max": hi}
}

func requirementsJSON(rs []srResult) []any {
	out := make([]any, 0, len(rs))
	for _, r := range rs {
		m := map[string]any{"name": r.Name, "status": r.Status, "is_legacy": false}
		if r.Description != "" {
			m["description"] = r.Description
		}
		for key, e := range map[string]*srExpr{
			"applicability_expression_result":  r.Applicability,
			"submittability_expression_result": r.Submittability,
			"override_expression_result":       r.Override,
		} {
			if e == nil {
				continue
			}
			em := map[string]any{
				"expression":        e.Expression,
				"fulfilled":         e.Fulfilled,
				"status":            e.Status,
				"passing_atoms":     append([]string{}, e.Passing...),
				"failing_atoms":     append([]string{}, e.Failing...),
				"atom_explanations": map[string]string{},
			}
			for _, a := range append(e.Passing, e.Failing...) {
				em["atom_explanations"].(map[string]string)[a] = ""
			}
			m[key] = em
		}
		out = append(out, m)
	}
	return out
}

func (s *Server) String() string { return fmt.Sprintf("gerrittest %s", s.URL()) }

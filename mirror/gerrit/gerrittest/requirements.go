package gerrittest

import (
	"fmt"
	"strconv"
	"strings"
)

// srExpr is a SubmitRequirementExpressionInfo.
type srExpr struct {
	Expression string
	Fulfilled  bool
	Status     string // PASS, FAIL, ERROR, NOT_EVALUATED
	Passing    []string
	Failing    []string
}

// srResult is a SubmitRequirementResultInfo.
type srResult struct {
	Name           string
	Description    string
	Status         string
	Applicability  *srExpr
	Submittability *srExpr
	Override       *srExpr
}

// evalRequirements evaluates the project's submit requirements against the
// current patch set. Callers hold mu.
func (s *Server) evalRequirements(c *change) []srResult {
	var out []srResult
	for _, r := range c.project.requirements {
		res := srResult{Name: r.Name, Description: r.Description}
		eval := func(expr string) *srExpr {
			if expr == "" {
				return nil
			}
			e := &srExpr{Expression: expr}
			n, err := parseQuery(expr)
			if err != nil {
				e.Status = "ERROR"
				return e
			}
			ok, err := n.eval(func(a *node) (bool, error) {
				v, err := s.matchAtom(c, a)
				if err != nil {
					return false, err
				}
				if v {
					e.Passing = append(e.Passing, a.text)
				} else {
					e.Failing = append(e.Failing, a.text)
				}
				return v, nil
			})
			switch {
			case err != nil:
				e.Status, e.Passing, e.Failing = "ERROR", nil, nil
			case ok:
				e.Fulfilled, e.Status = true, "PASS"
			default:
				e.Status = "FAIL"
			}
			return e
		}
		notEvaluated := func(expr string) *srExpr {
			if expr == "" {
				return nil
			}
			return &srExpr{Expression: expr, Status: "NOT_EVALUATED"}
		}
		res.Applicability = eval(r.Applicability)
		switch {
		case res.Applicability != nil && res.Applicability.Status == "ERROR":
			res.Status = "ERROR"
			res.Submittability = notEvaluated(r.Submittability)
			res.Override = notEvaluated(r.Override)
		case res.Applicability != nil && !res.Applicability.Fulfilled:
			res.Status = "NOT_APPLICABLE"
			res.Submittability = notEvaluated(r.Submittability)
			res.Override = notEvaluated(r.Override)
		default:
			res.Submittability = eval(r.Submittability)
			res.Override = eval(r.Override)
			switch {
			case res.Submittability == nil || res.Submittability.Status == "ERROR" ||
				res.Override != nil && res.Override.Status == "ERROR":
				res.Status = "ERROR"
			case res.Override != nil && res.Override.Fulfilled:
				res.Status = "OVERRIDDEN"
			case res.Submittability.Fulfilled:
				res.Status = "SATISFIED"
			default:
				res.Status = "UNSATISFIED"
			}
		}
		out = append(out, res)
	}
	return out
}

// requirements returns what Gerrit shows: stored results for merged
// changes, a fresh evaluation otherwise.
func (s *Server) requirements(c *change) []srResult {
	if c.status == StatusMerged {
		return c.storedSR
	}
	return s.evalRequirements(c)
}

// matchAtom evaluates one query operator against a change; the same
// operators serve change queries and submit requirement expressions.
// Callers hold mu.
func (s *Server) matchAtom(c *change, a *node) (bool, error) {
	v := a.value
	switch a.field {
	case "project":
		return c.project.name == v, nil
	case "branch":
		return c.branch == strings.TrimPrefix(v, "refs/heads/"), nil
	case "status", "is":
		switch strings.ToLower(v) {
		case "open", "pending", "new":
			return c.status == StatusNew, nil
		case "closed":
			return c.status != StatusNew, nil
		case "merged":
			return c.status == StatusMerged, nil
		case "abandoned":
			return c.status == StatusAbandoned, nil
		case "true":
			if a.field == "is" {
				return true, nil
			}
		case "false":
			if a.field == "is" {
				return false, nil
			}
		}
		return false, errorf(400, "Unrecognized value: %s", v)
	case "commit":
		v = strings.ToLower(v)
		if len(v) < 4 {
			return false, errorf(400, "commit: needs at least 4 hex digits")
		}
		for _, ps := range c.patchSets {
			if strings.HasPrefix(ps.sha, v) {
				return true, nil
			}
		}
		return false, nil
	case "change":
		if n, err := strconv.Atoi(v); err == nil {
			return c.number == n, nil
		}
		return strings.HasPrefix(c.changeID, v), nil
	case "owner":
		acct := s.findAccount(v, nil)
		return acct != nil && acct.ID == c.owner, nil
	case "topic":
		return c.topic == v, nil
	case "mergedafter", "mergedbefore", "after", "since", "before", "until":
		t, err := parseQueryTime(v)
		if err != nil {
			return false, errorf(400, "%v", err)
		}
		when := c.updated
		if strings.HasPrefix(a.field, "merged") {
			if c.status != StatusMerged {
				return false, nil
			}
			when = c.mergedOn
		}
		switch a.field {
		case "mergedafter", "after", "since":
			return !when.Before(t), nil
		default:
			return !when.After(t), nil
		}
	case "label":
		name, op, operand, err := labelCheck(v)
		if err != nil {
			return false, errorf(400, "%v", err)
		}
		l, ok := c.project.label(name)
		if !ok {
			return false, nil
		}
		var votes []int
		for _, ap := range c.currentApprovals()[l.Name] {
			votes = append(votes, ap.value)
		}
		return labelMatches(l, votes, op, operand)
	case "limit":
		return true, nil
	}
	return false, errorf(400, "Unsupported operator %s", fmt.Sprintf("%s:%s", a.field, v))
}

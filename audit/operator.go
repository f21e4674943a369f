package audit

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// operatorStep checks what the records of operators' break-glass acts
// must say, and reports whether covers goes on to check the step. A
// record that moves deploy/<env> to a commit not descending from where it
// was is valid only as a Rewind or an Override with Rewind set, each
// naming its operator, reason and ticket; covers refuses any other.
func (v *verifier) operatorStep(c *object.Commit, rec *Record) bool {
	switch rec.Kind {
	case Paid:
		if rec.To == "" || rec.From != rec.To || rec.Debt == nil || rec.Debt.Override == "" {
			v.fail("audit %s: a paid record must stay at one commit and name the override it pays (from %s to %s)", short(c.Hash), shortSHA(rec.From), shortSHA(rec.To))
		}
		return false
	case Rewind, Override:
		o := rec.Operator
		if o == nil || strings.TrimSpace(o.By) == "" || strings.TrimSpace(o.Reason) == "" || strings.TrimSpace(o.Ticket) == "" {
			v.fail("audit %s: a %s record must name its operator, reason and ticket", short(c.Hash), rec.Kind)
			return false
		}
		if rec.From == "" {
			v.fail("audit %s: a %s record must start from a deployed commit", short(c.Hash), rec.Kind)
			return false
		}
		if rec.Kind == Override && (o.Expires.IsZero() || rec.Debt == nil || rec.Debt.Base == "") {
			v.fail("audit %s: an override record must name its expiry and its debt", short(c.Hash))
			return false
		}
	}
	return true
}

// RewoundTagRef names the tag that keeps a commit deploy/<env> was
// rewound away from (rec.From of a Rewind, or of an Override with Rewind)
// in the served repository: without it a clone would lack the commits the
// earlier records name, and Verify could not check them.
func RewoundTagRef(env, from string) string {
	return "refs/tags/gerritgate-rewound/" + env + "/" + from
}

// WriteRewoundTag stores the annotated tag RewoundTagRef names, at
// rec.From, signed by s when s is not nil, and returns its hash. It moves
// no ref.
func WriteRewoundTag(st storer.EncodedObjectStorer, rec *Record, s *Signer) (plumbing.Hash, error) {
	t := &object.Tag{
		Name:       strings.TrimPrefix(RewoundTagRef(rec.Environment, rec.From), "refs/tags/"),
		Tagger:     object.Signature{Name: identityName, Email: identityEmail, When: rec.Time.UTC()},
		Message:    fmt.Sprintf("deploy/%s of %s was at %s until an operator's %s to %s at %s\n", rec.Environment, rec.Project, rec.From, rec.Kind, rec.To, rec.Time.UTC().Format(time.RFC3339)),
		TargetType: plumbing.CommitObject,
		Target:     plumbing.NewHash(rec.From),
	}
	return writeTag(st, t, s)
}

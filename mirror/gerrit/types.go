package gerrit

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeLayout is Gerrit's JSON timestamp format. Times are always UTC.
const TimeLayout = "2006-01-02 15:04:05.000000000"

// Timestamp is a time in Gerrit's JSON format, "2026-01-02 11:00:00.000000000"
// (UTC, not RFC 3339). The zero Timestamp encodes as null.
type Timestamp struct{ time.Time }

// UnmarshalJSON parses Gerrit's format; it also accepts fewer fractional
// digits and null.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("timestamp %s: not a JSON string", bounded(string(b), 64))
	}
	v, err := ParseTimestamp(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// MarshalJSON writes Gerrit's format.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(strconv.Quote(FormatTimestamp(t.Time))), nil
}

// ParseTimestamp parses a timestamp in Gerrit's JSON format.
func ParseTimestamp(s string) (time.Time, error) {
	// Layout "2006-01-02 15:04:05.999999999" accepts any number of
	// fractional digits, none included.
	v, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: not in Gerrit's format", bounded(s, 64))
	}
	return v, nil
}

// FormatTimestamp formats t (in UTC) in Gerrit's JSON format.
func FormatTimestamp(t time.Time) string { return t.UTC().Format(TimeLayout) }

// AccountInfo is Gerrit's AccountInfo. Without DETAILED_ACCOUNTS only ID is
// set.
type AccountInfo struct {
	ID          int    `json:"_account_id"`
	Name        string `json:"name,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Email       string `json:"email,omitempty"`
	Username    string `json:"username,omitempty"`
}

// ChangeInfo is Gerrit's ChangeInfo, as far as gerritgate reads it.
type ChangeInfo struct {
	ID                 string                        `json:"id"`
	TripletID          string                        `json:"triplet_id,omitempty"`
	Project            string                        `json:"project"`
	Branch             string                        `json:"branch"`
	Topic              string                        `json:"topic,omitempty"`
	ChangeID           string                        `json:"change_id"`
	Subject            string                        `json:"subject"`
	Status             string                        `json:"status"`
	Created            Timestamp                     `json:"created"`
	Updated            Timestamp                     `json:"updated"`
	Submitted          *Timestamp                    `json:"submitted,omitempty"`
	Submitter          *AccountInfo                  `json:"submitter,omitempty"`
	SubmissionID       string                        `json:"submission_id,omitempty"`
	Number             int                           `json:"_number"`
	Owner              AccountInfo                   `json:"owner"`
	Labels             map[string]LabelInfo          `json:"labels,omitempty"`
	CurrentRevision    string                        `json:"current_revision,omitempty"`
	Revisions          map[string]RevisionInfo       `json:"revisions,omitempty"`
	Messages           []ChangeMessageInfo           `json:"messages,omitempty"`
	SubmitRequirements []SubmitRequirementResultInfo `json:"submit_requirements,omitempty"`
	// MoreChanges is set on the last element of a query result page when
	// more results follow.
	MoreChanges bool `json:"_more_changes,omitempty"`
}

// RevisionInfo is Gerrit's RevisionInfo: one patch set.
type RevisionInfo struct {
	Kind     string      `json:"kind,omitempty"`
	Number   int         `json:"_number"`
	Created  Timestamp   `json:"created"`
	Uploader AccountInfo `json:"uploader"`
	Ref      string      `json:"ref,omitempty"`
	// Commit is set with CURRENT_COMMIT (current revision) or ALL_COMMITS.
	Commit *CommitInfo `json:"commit,omitempty"`
}

// CommitInfo is Gerrit's CommitInfo. Commit is empty inside a RevisionInfo,
// whose map key is the SHA.
type CommitInfo struct {
	Commit    string       `json:"commit,omitempty"`
	Parents   []CommitInfo `json:"parents,omitempty"`
	Author    *GitPerson   `json:"author,omitempty"`
	Committer *GitPerson   `json:"committer,omitempty"`
	Subject   string       `json:"subject,omitempty"`
	Message   string       `json:"message,omitempty"`
}

// GitPerson is Gerrit's GitPersonInfo. TZ is the offset in minutes.
type GitPerson struct {
	Name  string    `json:"name"`
	Email string    `json:"email"`
	Date  Timestamp `json:"date"`
	TZ    int       `json:"tz"`
}

// LabelInfo is Gerrit's LabelInfo. All is set with DETAILED_LABELS (and by
// newer servers with LABELS); Values only with DETAILED_LABELS.
type LabelInfo struct {
	Optional     bool           `json:"optional,omitempty"`
	Approved     *AccountInfo   `json:"approved,omitempty"`
	Rejected     *AccountInfo   `json:"rejected,omitempty"`
	Recommended  *AccountInfo   `json:"recommended,omitempty"`
	Disliked     *AccountInfo   `json:"disliked,omitempty"`
	Blocking     bool           `json:"blocking,omitempty"`
	Value        int            `json:"value,omitempty"`
	DefaultValue int            `json:"default_value,omitempty"`
	All          []ApprovalInfo `json:"all,omitempty"`
	// Values maps a formatted value ("-2", " 0", "+2") to its description.
	Values map[string]string `json:"values,omitempty"`
}

// Range returns the lowest and highest value of the label from Values.
// ok is false when Values is empty or holds a key that is not a number.
func (l LabelInfo) Range() (lo, hi int, ok bool) {
	first := true
	for k := range l.Values {
		v, err := ParseLabelValue(k)
		if err != nil {
			return 0, 0, false
		}
		if first || v < lo {
			lo = v
		}
		if first || v > hi {
			hi = v
		}
		first = false
	}
	return lo, hi, !first
}

// ParseLabelValue parses a label value as Gerrit formats it: "-2", " 0", "+1".
func ParseLabelValue(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("label value %q: not a number", bounded(s, 16))
	}
	return v, nil
}

// FormatLabelValue formats a label value as Gerrit does: "-2", " 0", "+1".
func FormatLabelValue(v int) string {
	switch {
	case v > 0:
		return "+" + strconv.Itoa(v)
	case v == 0:
		return " 0"
	default:
		return strconv.Itoa(v)
	}
}

// ApprovalInfo is Gerrit's ApprovalInfo: one reviewer on one label. Value
// is nil when the reviewer may not vote on the label.
type ApprovalInfo struct {
	AccountInfo
	Value                *int             `json:"value,omitempty"`
	PermittedVotingRange *VotingRangeInfo `json:"permitted_voting_range,omitempty"`
	Date                 *Timestamp       `json:"date,omitempty"`
	Tag                  string           `json:"tag,omitempty"`
	PostSubmit           bool             `json:"post_submit,omitempty"`
}

// VotingRangeInfo is Gerrit's VotingRangeInfo.
type VotingRangeInfo struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// SubmitRequirementResultInfo is Gerrit's SubmitRequirementResultInfo. For
// closed changes it is the result stored at submit time.
type SubmitRequirementResultInfo struct {
	Name                           string                           `json:"name"`
	Description                    string                           `json:"description,omitempty"`
	Status                         string                           `json:"status"`
	IsLegacy                       bool                             `json:"is_legacy"`
	ApplicabilityExpressionResult  *SubmitRequirementExpressionInfo `json:"applicability_expression_result,omitempty"`
	SubmittabilityExpressionResult *SubmitRequirementExpressionInfo `json:"submittability_expression_result,omitempty"`
	OverrideExpressionResult       *SubmitRequirementExpressionInfo `json:"override_expression_result,omitempty"`
}

// SubmitRequirementExpressionInfo is Gerrit's SubmitRequirementExpressionInfo.
type SubmitRequirementExpressionInfo struct {
	Expression   string   `json:"expression,omitempty"`
	Fulfilled    bool     `json:"fulfilled"`
	Status       string   `json:"status,omitempty"` // PASS, FAIL, ERROR, NOT_EVALUATED
	PassingAtoms []string `json:"passing_atoms,omitempty"`
	FailingAtoms []string `json:"failing_atoms,omitempty"`
}

// ChangeMessageInfo is Gerrit's ChangeMessageInfo.
type ChangeMessageInfo struct {
	ID             string       `json:"id"`
	Author         *AccountInfo `json:"author,omitempty"`
	RealAuthor     *AccountInfo `json:"real_author,omitempty"`
	Date           Timestamp    `json:"date"`
	Message        string       `json:"message"`
	Tag            string       `json:"tag,omitempty"`
	RevisionNumber int          `json:"_revision_number,omitempty"`
}

// GroupInfo is Gerrit's GroupInfo.
type GroupInfo struct {
	ID          string        `json:"id"`
	Name        string        `json:"name,omitempty"`
	URL         string        `json:"url,omitempty"`
	Options     *GroupOptions `json:"options,omitempty"`
	Description string        `json:"description,omitempty"`
	GroupID     int           `json:"group_id,omitempty"`
	Owner       string        `json:"owner,omitempty"`
	OwnerID     string        `json:"owner_id,omitempty"`
	CreatedOn   *Timestamp    `json:"created_on,omitempty"`
}

// GroupOptions is Gerrit's GroupOptionsInfo.
type GroupOptions struct {
	VisibleToAll bool `json:"visible_to_all,omitempty"`
}

// ReviewInput is the body of a review: a message and optional votes.
type ReviewInput struct {
	Message string         `json:"message,omitempty"`
	Tag     string         `json:"tag,omitempty"`
	Labels  map[string]int `json:"labels,omitempty"`
	// Notify is NONE, OWNER, OWNER_REVIEWERS or ALL (Gerrit's default).
	Notify string `json:"notify,omitempty"`
}

// Change statuses.
const (
	StatusNew       = "NEW"
	StatusMerged    = "MERGED"
	StatusAbandoned = "ABANDONED"
)

// Query options (the o= parameter) the client asks for.
const (
	OptLabels             = "LABELS"
	OptDetailedLabels     = "DETAILED_LABELS"
	OptSubmitRequirements = "SUBMIT_REQUIREMENTS"
	OptCurrentRevision    = "CURRENT_REVISION"
	OptAllRevisions       = "ALL_REVISIONS"
	OptCurrentCommit      = "CURRENT_COMMIT"
	OptAllCommits         = "ALL_COMMITS"
	OptDetailedAccounts   = "DETAILED_ACCOUNTS"
	OptMessages           = "MESSAGES"
)

func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

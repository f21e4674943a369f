// Package status is the gate's status page and JSON API: a Board holding
// the last decision for every gated environment (with each project's last
// mirror fetch, and each environment's newest audit entries as read at the
// commit audit/<env> pointed at), and a Handler serving it (/,
// /api/v1/status, one project, one environment, and a fresh decision on
// its pending commits) to each caller filtered by what it may see.
//
// It never decides, fetches or moves a ref: results arrive through
// Board.Record, fresh decisions through the Explainer the caller passes.
// It never shows a caller a project the Viewers it is given hide from that
// caller: names, SHAs, subjects and voters are not public, so a missing
// reader or an unknown project shows nothing rather than everything.
package status

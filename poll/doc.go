// Package poll is the gate's poll loop: on a cron schedule, at once when
// nudged (a webhook, an event from Gerrit's stream) or when an operator
// request appears in <dataDir>/adopt/, and once at start, it
// lists the projects the policy gates, fetches each, applies waiting
// adoption requests and reconciles every environment, one poll at a time.
// The policy in force is swapped in by the caller (a reload), or
// returned by Config.Refresh at the start of each poll (a policy reviewed
// in Gerrit); while there is none, nothing is fetched, decided or moved.
// Fresh decisions for the status API run under the same lock as polls.
//
// It works through small interfaces: a Fetcher (the mirror), a Reconciler
// (the deployer), a Recorder (the results board and metrics) and a Lister
// (Gerrit's project list). It never decides by itself and never moves a
// ref: a project whose fetch fails is recorded as Failed and its deploy
// refs stay where they are; a project Gerrit cannot list keeps being
// reconciled from the last list Gerrit gave. The lists behind the
// policy's patterns are kept for Config.ListEvery (projectlist.go), so
// a steady poll asks Gerrit nothing; Relist lists them at the next poll.
package poll

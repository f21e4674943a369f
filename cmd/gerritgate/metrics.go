package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/status"
	"github.com/gerritgate/gerritgate/storage/packcache"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// metrics is the service's own registry: no global collectors.
type metrics struct {
	reg          *prometheus.Registry
	pollDuration prometheus.Histogram
	reconciles   *prometheus.CounterVec
	pending      *prometheus.GaugeVec
	lastAdvance  *prometheus.GaugeVec
	gitRequests  *prometheus.CounterVec
	reloads      *prometheus.CounterVec
	policyOK     prometheus.Gauge
	policyCommit *prometheus.GaugeVec
	policyWait   *prometheus.GaugeVec
	events       *prometheus.CounterVec
	gerritCalls  *prometheus.CounterVec
	connsRefused *prometheus.CounterVec
	sshLogins    prometheus.Counter
	sshRefused   *prometheus.CounterVec
	posts        *prometheus.CounterVec
	fluxCalls    *prometheus.CounterVec
	debt         *prometheus.GaugeVec
	debtOverdue  *prometheus.GaugeVec
	debtSince    *prometheus.GaugeVec
	accessChecks *prometheus.CounterVec
	packCache    *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gerritgate_poll_duration_seconds", Help: "Time one poll of all projects took.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_reconciles_total", Help: "Reconciles of a deploy branch, by outcome.",
		}, []string{"project", "environment", "reason"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gerritgate_pending_commits", Help: "Upstream commits not yet deployed.",
		}, []string{"project", "environment"}),
		lastAdvance: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gerritgate_last_advance_timestamp_seconds", Help: "When the deploy branch last moved.",
		}, []string{"project", "environment"}),
		gitRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_git_requests_total", Help: "Git requests served, by transport and outcome.",
		}, []string{"transport", "outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_reloads_total", Help: "Reloads of a watched file (policy, access), by result; on error the last good file stays in force.",
		}, []string{"file", "result"}),
		policyOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gerritgate_policy_ok", Help: "1 when the policy file as it is on disk (reviewed in Gerrit: the newest commit of its branch) is in force, 0 when it is unreadable, refused or waits for approval (the last good policy stays in force).",
		}),
		policyCommit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gerritgate_policy_commit_info", Help: "1 for the commit of the policy reviewed in Gerrit that is in force (none while no approved commit parses: nothing advances).",
		}, []string{"project", "branch", "path", "commit"}),
		policyWait: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gerritgate_policy_waiting", Help: "1 for each newer commit of the policy reviewed in Gerrit that is not in force, by why: unapproved or unparsable.",
		}, []string{"commit", "why"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_gerrit_events_total", Help: "Events read from gerrit stream-events, by type (stream-connected counts (re)connections).",
		}, []string{"type"}),
		gerritCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_gerrit_requests_total", Help: "REST calls to Gerrit, by call and outcome (ok, not_found, unauthorized, conflict, client_error, server_error, bad_answer, network).",
		}, []string{"op", "outcome"}),
		sshLogins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gerritgate_ssh_failed_logins_total", Help: "SSH connections that tried to authenticate and failed.",
		}),
		sshRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_ssh_connections_cut_total",
			Help: "SSH connections refused at accept (blocked after failed logins) or closed by a bound (handshake_timeout, idle_timeout), and sessions refused (session_limit).",
		}, []string{"reason"}),
		connsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_connections_refused_total", Help: "Connections closed at once because their source address already held maxConnectionsPerAddress, by listener.",
		}, []string{"listener"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_deploy_messages_total", Help: "Deploy messages on Gerrit changes, by outcome (posted, present: the change had it already, retried, failed: waits for the next poll).",
		}, []string{"outcome"}),
		fluxCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_flux_notifications_total", Help: "Calls of Flux Receivers after a deploy branch moved, by outcome (sent, retried, failed, dropped).",
		}, []string{"outcome"}),
		debt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gerritgate_override_debt_commits", Help: "Commits an override let through that the policy does not approve yet; while above 0 the environment advances no further on its own.",
		}, []string{"project", "environment"}),
		debtOverdue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gerritgate_override_debt_overdue", Help: "1 when an override's debt is past its --expires and unpaid (the environment stays blocked), else 0.",
		}, []string{"project", "environment"}),
		debtSince: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gerritgate_override_debt_since_timestamp_seconds", Help: "When the override whose debt is unpaid moved the environment; 0 when it owes nothing.",
		}, []string{"project", "environment"}),
		accessChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_access_gerrit_checks_total", Help: "Questions put to Gerrit for readers bound to a Gerrit account or group, by outcome (granted, denied, error: the reader is refused once its last answer is older than gerrit.readCheckLifetime).",
		}, []string{"outcome"}),
		packCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gerritgate_pack_cache_requests_total", Help: "Clone requests over HTTP and SSH by what the pack cache did: hit (answered from disk), miss (git ran, answer kept if it could be), bypass (not a request it keeps: git ran).",
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.packCache)
	m.reg.MustRegister(m.accessChecks, m.debt, m.debtOverdue, m.debtSince, m.posts, m.fluxCalls, m.pollDuration, m.reconciles, m.pending, m.lastAdvance, m.gitRequests, m.reloads, m.policyOK, m.policyCommit, m.policyWait, m.events, m.gerritCalls, m.connsRefused, m.sshLogins, m.sshRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.policyOK.Set(1) // serve starts only with a good policy
	return m
}

// watchAccess exposes the access file's state: how many versions were
// loaded, how many broken ones were refused, and whether the last read was
// good.
func (m *metrics) watchAccess(w *access.Watcher) {
	w.Observe(func(result string) { m.reloads.WithLabelValues("access", result).Inc() })
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gerritgate_access_loads_total", Help: "Versions of the access file loaded.",
		}, func() float64 { return float64(w.Generation()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gerritgate_access_errors_total", Help: "Broken versions of the access file refused (the last good one stays in force).",
		}, func() float64 { return float64(w.Failures()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gerritgate_access_ok", Help: "1 when the access file as it is on disk is in force, 0 when it is broken.",
		}, func() float64 {
			if w.LastError() != nil {
				return 0
			}
			return 1
		}),
	)
}

// accessCheck counts one question put to Gerrit for a bound reader.
func (m *metrics) accessCheck(outcome string) { m.accessChecks.WithLabelValues(outcome).Inc() }

// watchChecks exposes how many bound readers' questions are refused now
// because Gerrit could not be asked.
func (m *metrics) watchChecks(c *access.GerritChecker) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gerritgate_access_gerrit_stale", Help: "Questions about bound readers (account, project, branch; or a group's members) refused now because their answer is older than gerrit.readCheckLifetime and Gerrit could not be asked again.",
	}, func() float64 { return float64(c.Stale()) }))
}

// gerritCall counts one REST call to Gerrit (gerrit.WithObserver).
func (m *metrics) gerritCall(op, outcome string) { m.gerritCalls.WithLabelValues(op, outcome).Inc() }

// watchPackCache exposes the bytes the pack cache keeps.
func (m *metrics) watchPackCache(c *packcache.Cache) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gerritgate_pack_cache_bytes", Help: "Bytes of upload-pack answers kept on disk (bounded by packCache.maxMiB).",
	}, func() float64 { return float64(c.Used()) }))
}

// watchClones exposes how many clone slots are taken.
func (m *metrics) watchClones(l *uploadpack.Limiter) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gerritgate_clones_in_progress", Help: "git upload-pack processes running now, HTTP and SSH together (bounded by maxConcurrentClones).",
	}, func() float64 { return float64(l.InUse()) }))
}

func (m *metrics) observe(r deploy.Result) {
	m.reconciles.WithLabelValues(r.Project, r.Env, string(r.Reason)).Inc()
	if r.Reason == deploy.Advanced || r.Reason == deploy.Initialized || r.Reason == deploy.Adopted || r.Reason == deploy.Overridden || r.Reason == deploy.Rewound {
		m.lastAdvance.WithLabelValues(r.Project, r.Env).Set(float64(r.Time.Unix()))
	}
	m.observeDebt(r)
	switch {
	case r.Reason == deploy.UpToDate:
		m.pending.WithLabelValues(r.Project, r.Env).Set(0)
	case r.Decision != nil:
		m.pending.WithLabelValues(r.Project, r.Env).Set(float64(r.Decision.Remaining))
	case r.Reason == deploy.Initialized:
		m.pending.WithLabelValues(r.Project, r.Env).Set(0)
	}
}

// observeDebt exposes an override's unpaid debt. A failed reconcile
// says nothing about it and leaves the gauges as they were.
func (m *metrics) observeDebt(r deploy.Result) {
	if r.Reason == deploy.Failed {
		return
	}
	var commits, overdue, since float64
	if d := r.Debt; d != nil {
		commits, since = float64(len(d.Unapproved)), float64(d.Since.Unix())
		if d.Overdue {
			overdue = 1
		}
	}
	m.debt.WithLabelValues(r.Project, r.Env).Set(commits)
	m.debtOverdue.WithLabelValues(r.Project, r.Env).Set(overdue)
	m.debtSince.WithLabelValues(r.Project, r.Env).Set(since)
}

// observeSSH counts the SSH server's connection events.
func (m *metrics) observeSSH(event string) {
	if event == "login_failed" {
		m.sshLogins.Inc()
		return
	}
	m.sshRefused.WithLabelValues(event).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// policyInForce shows the reviewed policy's state: the commit in force,
// the ones waiting, and policy_ok 1 only when nothing waits.
func (m *metrics) policyInForce(p status.Policy) {
	m.policyCommit.Reset()
	if p.Commit != "" {
		m.policyCommit.WithLabelValues(p.Project, p.Branch, p.Path, p.Commit).Set(1)
	}
	m.policyWait.Reset()
	for _, w := range p.Waiting {
		m.policyWait.WithLabelValues(w.Commit, w.Why).Set(1)
	}
	if p.Commit != "" && len(p.Waiting) == 0 {
		m.policyOK.Set(1)
	} else {
		m.policyOK.Set(0)
	}
}

package examples_test

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	notificationv1 "github.com/fluxcd/notification-controller/api/v1"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"golang.org/x/crypto/ssh"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest document and where it came from.
type object struct {
	where string // file#document
	obj   any
}

// kinds maps apiVersion/kind to the real API type a manifest must decode into.
var kinds = map[string]func() any{
	"v1/Namespace":             func() any { return new(corev1.Namespace) },
	"v1/ConfigMap":             func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                func() any { return new(corev1.Secret) },
	"v1/Service":               func() any { return new(corev1.Service) },
	"v1/PersistentVolumeClaim": func() any { return new(corev1.PersistentVolumeClaim) },
	"apps/v1/StatefulSet":      func() any { return new(appsv1.StatefulSet) },
	"source.toolkit.fluxcd.io/v1/GitRepository": func() any { return new(sourcev1.GitRepository) },
	"notification.toolkit.fluxcd.io/v1/Receiver": func() any {
		return new(notificationv1.Receiver)
	},
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
}

// decodeManifests decodes every document of every .yaml file under dirs
// strictly (an unknown or misspelt field is an error) into its real type.
func decodeManifests(dirs ...string) ([]object, error) {
	var objs []object
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if filepath.Base(f) == "access.yaml" { // gerritgate's file, not a manifest
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			for i, doc := range splitDocuments(string(data)) {
				where := fmt.Sprintf("%s#%d", f, i+1)
				obj, err := decode([]byte(doc))
				if err != nil {
					return nil, fmt.Errorf("%s: %w", where, err)
				}
				objs = append(objs, object{where, obj})
			}
		}
	}
	return objs, nil
}

func decode(doc []byte) (any, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return nil, err
	}
	newObj, ok := kinds[meta.APIVersion+"/"+meta.Kind]
	if !ok {
		return nil, fmt.Errorf("apiVersion %q kind %q: not a type this test knows", meta.APIVersion, meta.Kind)
	}
	// As the API server decodes: field names case-sensitive, unknown and
	// duplicate fields errors (sigs.k8s.io/yaml's own strict mode matches
	// "secretref" to secretRef, as encoding/json does).
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", meta.Kind, err)
	}
	obj := newObj()
	strict, err := kjson.UnmarshalStrict(js, obj)
	if err == nil {
		err = errors.Join(strict...)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", meta.Kind, err)
	}
	return obj, nil
}

// splitDocuments splits a YAML stream at its "---" lines, dropping
// documents that hold only comments.
func splitDocuments(s string) []string {
	var docs []string
	var cur []string
	flush := func() {
		for _, l := range cur {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
				docs = append(docs, strings.Join(cur, "\n"))
				break
			}
		}
		cur = nil
	}
	for _, l := range strings.Split(s, "\n") {
		if l == "---" {
			flush()
			continue
		}
		cur = append(cur, l)
	}
	flush()
	return docs
}

func TestManifestsDecodeStrictly(t *testing.T) {
	objs, err := decodeManifests("flux", "kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) < 10 {
		t.Fatalf("decoded %d manifests under examples/flux and examples/kubernetes, want at least 10", len(objs))
	}
}

// TestStrictDecodingCatchesTypos: the check above would pass anything if
// decoding were lenient.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nspec:\n  url: https://x/y.git\n  secretref: {name: s}\n",
		"apiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nspec:\n  type: generic-hmac\n  secret: {name: s}\n",
		"apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  servicename: x\n",
		"apiVersion: v1\nkind: Secret\nstringdata: {token: x}\n",
		"apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nspec:\n  endpoints: [{port: http, bearerToken: x}]\n",
		"apiVersion: v1\nkind: Sekret\n",
		"apiVersion: v1\nkind: Secret\nstringData: {token: x}\nstringData: {token: y}\n",
	} {
		if _, err := decode([]byte(doc)); err == nil {
			t.Errorf("decoded without an error:\n%s", doc)
		}
	}
}

// find returns the decoded objects of type T, with where they came from.
func find[T any](objs []object) (found []*T, where []string) {
	for _, o := range objs {
		if v, ok := o.obj.(*T); ok {
			found = append(found, v)
			where = append(where, o.where)
		}
	}
	return found, where
}

func kubernetesExample(t *testing.T) []object {
	t.Helper()
	objs, err := decodeManifests("kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func theStatefulSet(t *testing.T, objs []object) *appsv1.StatefulSet {
	t.Helper()
	sts, _ := find[appsv1.StatefulSet](objs)
	if len(sts) != 1 || len(sts[0].Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one StatefulSet with one container in examples/kubernetes, got %d", len(sts))
	}
	return sts[0]
}

func TestKubernetesExampleStatefulSet(t *testing.T) {
	objs := kubernetesExample(t)
	sts := theStatefulSet(t, objs)
	checkStatefulSet(t, sts, objs)
}

// checkStatefulSet holds what the issue found wrong in the example: a
// serviceName naming a Service that is not headless, no startupProbe, an
// unpinned image, and config mounted with subPath (never updated, so a
// policy edit never reached the pod).
func checkStatefulSet(t testing.TB, sts *appsv1.StatefulSet, objs []object) {
	t.Helper()
	svcs, _ := find[corev1.Service](objs)
	var governing *corev1.Service
	for _, s := range svcs {
		if s.Name == sts.Spec.ServiceName && s.Namespace == sts.Namespace {
			governing = s
		}
	}
	switch {
	case governing == nil:
		t.Errorf("StatefulSet serviceName %q names no Service of the example", sts.Spec.ServiceName)
	case governing.Spec.ClusterIP != corev1.ClusterIPNone:
		t.Errorf("StatefulSet serviceName %q names a Service that is not headless (clusterIP %q, want None)", sts.Spec.ServiceName, governing.Spec.ClusterIP)
	}
	c := sts.Spec.Template.Spec.Containers[0]
	if c.StartupProbe == nil {
		t.Error("the container has no startupProbe")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("the liveness probe must be GET /healthz (no auth, no Gerrit, no poll)")
	} else if p := c.LivenessProbe; p.FailureThreshold*p.PeriodSeconds < 60 {
		t.Errorf("the liveness probe restarts after %ds of failures: a burst of slow clients (headers may take 10s, bodies 30s) must not restart the pod; want at least 60s", p.FailureThreshold*p.PeriodSeconds)
	}
	if !pinned(c.Image) {
		t.Errorf("image %q is not pinned to a tag or digest (not :latest)", c.Image)
	}
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" || m.SubPathExpr != "" {
			t.Errorf("volume %s is mounted at %s with subPath: the kubelet never updates a subPath mount, so edits never reach the pod", m.Name, m.MountPath)
		}
	}
}

// pinned: the image names a tag other than latest, or a digest.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	return ok && tag != "" && tag != "latest"
}

func TestPinned(t *testing.T) {
	for image, want := range map[string]bool{
		"registry.example.com/gerritgate:v0.1.0":      true,
		"registry.example.com:5000/gerritgate:v0.1.0": true,
		"registry.example.com:5000/gerritgate":        false,
		"ghcr.io/example/gerritgate:latest":           false,
		"gerritgate":                                  false,
		"gerritgate@sha256:0123":                      true,
	} {
		if got := pinned(image); got != want {
			t.Errorf("pinned(%q) = %v, want %v", image, got, want)
		}
	}
}

// TestKubernetesExampleCatchesWhatTheIssueFound: the checks fail on the
// example as it was (serviceName of a plain Service, no startupProbe,
// :latest, subPath mounts).
func TestKubernetesExampleCatchesWhatTheIssueFound(t *testing.T) {
	objs := kubernetesExample(t)
	sts := theStatefulSet(t, objs).DeepCopy()
	sts.Spec.ServiceName = "gerritgate"
	c := &sts.Spec.Template.Spec.Containers[0]
	c.StartupProbe = nil
	c.Image = "ghcr.io/example/gerritgate:latest"
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "config", MountPath: "/etc/gerritgate/policy.yaml", SubPath: "policy.yaml"})
	c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: c.LivenessProbe.HTTPGet}, PeriodSeconds: 10, FailureThreshold: 3}
	ft := &recorder{}
	checkStatefulSet(ft, sts, objs)
	for _, want := range []string{"not headless", "startupProbe", "not pinned", "subPath", "liveness probe restarts"} {
		if !slices.ContainsFunc(ft.errs, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("the old example's flaw %q was not reported; reported: %q", want, ft.errs)
		}
	}
}

// recorder is a testing.TB that records errors instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Error(args ...any)         { r.errs = append(r.errs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }

// TestKubernetesExampleMountsWhatTheConfigNames: every file the config
// names lies under a mount of the volume that provides it, and the
// ServiceMonitor reads the metrics token from a Secret.
func TestKubernetesExampleMountsWhatTheConfigNames(t *testing.T) {
	objs := kubernetesExample(t)
	sts := theStatefulSet(t, objs)
	c := sts.Spec.Template.Spec.Containers[0]
	mountOf := func(p string) string {
		for _, m := range c.VolumeMounts {
			if strings.HasPrefix(p, m.MountPath+"/") {
				return m.Name
			}
		}
		return ""
	}
	cms, _ := find[corev1.ConfigMap](objs)
	if len(cms) != 1 {
		t.Fatalf("want one ConfigMap, got %d", len(cms))
	}
	// The --config argument and the policy: files of the ConfigMap, in its
	// directory mount.
	cfgPath := c.Args[slices.Index(c.Args, "--config")+1]
	cfg := exampleConfig(t, cms[0])
	policy, accessFile := cfg.Policy, cfg.Access
	// access.yaml: from the Secret, also mounted as a directory (above:
	// no subPath), so edits reach the pod.
	if m := mountOf(accessFile); m != "access" || path.Base(accessFile) != "access.yaml" {
		t.Errorf("access.yaml is read from %q, not from the access Secret's directory mount", accessFile)
	}
	for key, p := range map[string]string{"gerritgate.yaml": cfgPath, "policy.yaml": policy} {
		if mountOf(p) != "config" || path.Base(p) != key {
			t.Errorf("%s is read from %q, which is not the ConfigMap's key %s in its directory mount", key, p, key)
		}
		if _, ok := cms[0].Data[key]; !ok {
			t.Errorf("the ConfigMap has no %s", key)
		}
	}
	if cfg.Audit.SigningKey == "" {
		t.Error("the example's config has no audit.signingKey: its audit trail and tags would be unsigned")
	}
	checkPrivateFiles(t, sts, cfg)
	sms, _ := find[monitoringv1.ServiceMonitor](objs)
	if len(sms) != 1 || len(sms[0].Spec.Endpoints) != 1 {
		t.Fatalf("want one ServiceMonitor with one endpoint, got %d", len(sms))
	}
	ep := sms[0].Spec.Endpoints[0]
	if ep.Path != "/metrics" || ep.Authorization == nil || ep.Authorization.Credentials == nil || ep.Authorization.Credentials.Name == "" {
		t.Errorf("the ServiceMonitor must scrape /metrics with the metrics token from a Secret (authorization.credentials), got path %q authorization %+v", ep.Path, ep.Authorization)
	}
	if a := sts.Spec.Template.Annotations; a["prometheus.io/scrape"] != "" {
		t.Error("prometheus.io/scrape on the pod: such a scrape has no token and gets 401")
	}
}

// config is what the example's gerritgate.yaml names (cmd/gerritgate's
// test loads it with the service's own parser).
type config struct {
	Policy string `json:"policy"`
	Access string `json:"access"`
	Gerrit struct {
		PasswordFile string `json:"passwordFile"`
	} `json:"gerrit"`
	SSH struct {
		HostKeyFiles []string `json:"hostKeyFiles"`
	} `json:"ssh"`
	Audit struct {
		SigningKey string `json:"signingKey"`
	} `json:"audit"`
}

func exampleConfig(t *testing.T, cm *corev1.ConfigMap) config {
	t.Helper()
	var cfg config
	if err := yaml.Unmarshal([]byte(cm.Data["gerritgate.yaml"]), &cfg); err != nil {
		t.Fatalf("the ConfigMap's gerritgate.yaml: %v", err)
	}
	return cfg
}

// checkPrivateFiles: the Gerrit password, the SSH host keys and the audit
// signing key are each read from a Secret volume mounted as a directory
// with defaultMode 0400, so only the gate's user reads them.
func checkPrivateFiles(t testing.TB, sts *appsv1.StatefulSet, cfg config) {
	t.Helper()
	spec := sts.Spec.Template.Spec
	files := map[string]string{"gerrit.passwordFile": cfg.Gerrit.PasswordFile, "audit.signingKey": cfg.Audit.SigningKey}
	for i, f := range cfg.SSH.HostKeyFiles {
		files[fmt.Sprintf("ssh.hostKeyFiles[%d]", i)] = f
	}
	for key, p := range files {
		if p == "" {
			continue // said by the caller where it matters
		}
		var vol *corev1.Volume
		for _, m := range spec.Containers[0].VolumeMounts {
			if strings.HasPrefix(p, m.MountPath+"/") {
				for i := range spec.Volumes {
					if spec.Volumes[i].Name == m.Name {
						vol = &spec.Volumes[i]
					}
				}
			}
		}
		switch {
		case vol == nil:
			t.Errorf("%s %s is under no volume mount of the container", key, p)
		case vol.Secret == nil:
			t.Errorf("%s %s is on volume %s, not a Secret", key, p, vol.Name)
		case vol.Secret.DefaultMode == nil || *vol.Secret.DefaultMode != 0o400:
			t.Errorf("%s %s is on Secret volume %s without defaultMode 0400 (only the gate's user may read it)", key, p, vol.Name)
		}
	}
}

// TestKubernetesExampleCatchesExposedKeys: checkPrivateFiles fails on a
// signing key in a Secret others may read, or in no volume at all.
func TestKubernetesExampleCatchesExposedKeys(t *testing.T) {
	objs := kubernetesExample(t)
	cms, _ := find[corev1.ConfigMap](objs)
	cfg := exampleConfig(t, cms[0])
	for _, tt := range []struct {
		name   string
		change func(sts *appsv1.StatefulSet, cfg *config)
		want   string
	}{
		{"group-readable", func(sts *appsv1.StatefulSet, cfg *config) {
			for _, v := range sts.Spec.Template.Spec.Volumes {
				if v.Name == "audit-key" {
					v.Secret.DefaultMode = ptr(int32(0o440))
				}
			}
		}, "audit.signingKey /etc/gerritgate/audit/gate-key.asc is on Secret volume audit-key without defaultMode 0400"},
		{"not mounted", func(sts *appsv1.StatefulSet, cfg *config) { cfg.Audit.SigningKey = "/etc/gerritgate/keys/gate-key.asc" },
			"audit.signingKey /etc/gerritgate/keys/gate-key.asc is under no volume mount"},
		{"in the ConfigMap", func(sts *appsv1.StatefulSet, cfg *config) {
			cfg.Audit.SigningKey = "/etc/gerritgate/config/gate-key.asc"
		},
			"audit.signingKey /etc/gerritgate/config/gate-key.asc is on volume config, not a Secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sts, c := theStatefulSet(t, objs).DeepCopy(), cfg
			tt.change(sts, &c)
			rec := &recorder{}
			checkPrivateFiles(rec, sts, c)
			if !slices.ContainsFunc(rec.errs, func(e string) bool { return strings.Contains(e, tt.want) }) {
				t.Errorf("not reported: %q; reported: %q", tt.want, rec.errs)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestFluxExamples: the HTTP and SSH GitRepositories, their Secrets, the
// signed-tag GitRepository and the Receiver fit together as README says.
func TestFluxExamples(t *testing.T) {
	objs, err := decodeManifests("flux")
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]*corev1.Secret{}
	ss, _ := find[corev1.Secret](objs)
	for _, s := range ss {
		secrets[s.Name] = s
	}
	secret := func(where, name string, keys ...string) {
		s, ok := secrets[name]
		if !ok {
			t.Errorf("%s: Secret %q is not in examples/flux", where, name)
			return
		}
		for _, k := range keys {
			if _, ok := s.StringData[k]; !ok {
				t.Errorf("%s: Secret %q has no %s", where, name, k)
			}
		}
	}
	repos, where := find[sourcev1.GitRepository](objs)
	var schemes []string
	for i, r := range repos {
		u, err := url.Parse(r.Spec.URL)
		if err != nil {
			t.Errorf("%s: url: %v", where[i], err)
			continue
		}
		if r.Spec.SecretRef == nil {
			t.Errorf("%s: no secretRef: nothing is readable without credentials", where[i])
			continue
		}
		schemes = append(schemes, u.Scheme)
		switch u.Scheme {
		case "https":
			secret(where[i], r.Spec.SecretRef.Name, "password")
		case "ssh":
			secret(where[i], r.Spec.SecretRef.Name, "identity", "known_hosts")
			if s, ok := secrets[r.Spec.SecretRef.Name]; ok {
				checkKnownHosts(t, where[i], s.StringData["known_hosts"], u)
			}
		default:
			t.Errorf("%s: url scheme %q: the examples use https or ssh (README, Flux)", where[i], u.Scheme)
		}
		if v := r.Spec.Verification; v != nil {
			if v.Mode != sourcev1.ModeGitTag || r.Spec.Reference == nil || !strings.HasPrefix(r.Spec.Reference.Tag, "gerritgate/") {
				t.Errorf("%s: verify.mode Tag needs ref.tag gerritgate/<env> (the gate signs that tag, not the deployed commits)", where[i])
			}
			secret(where[i], v.SecretRef.Name)
		} else if r.Spec.Reference == nil || !strings.HasPrefix(r.Spec.Reference.Branch, "deploy/") {
			t.Errorf("%s: follows %+v, want branch deploy/<env>", where[i], r.Spec.Reference)
		}
	}
	slices.Sort(schemes)
	if !slices.Contains(schemes, "https") || !slices.Contains(schemes, "ssh") {
		t.Errorf("want GitRepositories over https and ssh, got %v", schemes)
	}
	recvs, rwhere := find[notificationv1.Receiver](objs)
	if len(recvs) != 1 {
		t.Fatalf("want one Receiver, got %d", len(recvs))
	}
	r := recvs[0]
	// gerritgate signs with X-Signature: sha256=<HMAC>, which is generic-hmac.
	if r.Spec.Type != notificationv1.GenericHMACReceiver {
		t.Errorf("%s: type %q, want %q (what the gate's notify: sends)", rwhere[0], r.Spec.Type, notificationv1.GenericHMACReceiver)
	}
	secret(rwhere[0], r.Spec.SecretRef.Name, "token")
	names := map[string]bool{}
	for _, g := range repos {
		names[g.Name] = true
	}
	for _, res := range r.Spec.Resources {
		if res.Kind != sourcev1.GitRepositoryKind || !names[res.Name] {
			t.Errorf("%s: wakes %s %q, not a GitRepository of the examples", rwhere[0], res.Kind, res.Name)
		}
	}
}

// checkKnownHosts: the known_hosts value is one line in OpenSSH's format
// for exactly the host and port of the url ([host]:port unless 22).
func checkKnownHosts(t *testing.T, where, known string, u *url.URL) {
	t.Helper()
	_, hosts, _, _, rest, err := ssh.ParseKnownHosts([]byte(known))
	if err != nil {
		t.Errorf("%s: known_hosts: %v", where, err)
		return
	}
	if strings.TrimSpace(string(rest)) != "" {
		t.Errorf("%s: known_hosts has more than one line", where)
	}
	want := u.Hostname()
	if p := u.Port(); p != "" && p != "22" {
		want = "[" + want + "]:" + p
	}
	if !slices.Contains(hosts, want) {
		t.Errorf("%s: known_hosts names %v, want %q (the url's host and port)", where, hosts, want)
	}
}

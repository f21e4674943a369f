// Package e2e holds black-box tests of the built gerritgate binary with real
// clients: C git, Flux's own git client (fluxcd/pkg/git/gogit), and a Gerrit
// (the simulated gerrittest by default; a real one where a test says so).
//
// Flux's gogit package rewrites go-git's global transport settings in its
// init, so it is imported here and nowhere else.
package e2e

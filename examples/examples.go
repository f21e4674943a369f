// Package examples holds the example files the documentation points at,
// embedded where a command needs them (the demo's policy), so there is one
// copy of each.
package examples

import _ "embed"

//go:embed policy.yaml
var policy string

// Policy returns examples/policy.yaml, the example policy.
func Policy() string { return policy }

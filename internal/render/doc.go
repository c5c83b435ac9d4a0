// Package render prints the operator commands' results in the -w format
// asked for: tables drawn as etcdctl draws them (with the same table library,
// olekukonko/tablewriter), indented JSON, YAML, and the human sizes etcdctl
// prints. Each command's package builds its rows; render only draws them.
package render

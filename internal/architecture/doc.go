// Package architecture holds no code: its test checks the module's import
// graph against the layer table in docs/architecture.md, the one place the
// layer order lives, and that the operator's binary links no node package.
package architecture

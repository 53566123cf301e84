// Package modtest holds a test that builds a program in another module
// against the public libraries (client, bearer), as an outside user
// would after `go get`. It has no code of its own.
package modtest

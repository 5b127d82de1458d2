// Package winetest runs the real Windows binaries under Wine: the resolver,
// its named pipe, activation in the registry, the service and the MSI. Its
// tests carry the build tag `wine` and run only through test.sh, which builds
// the test binaries, a throwaway prefix and a network namespace for them
// (see docs/wine.md). It has no non-test code.
package winetest

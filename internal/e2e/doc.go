// Package e2e holds end-to-end tests of activation on Linux: each test runs
// in fresh network and mount namespaces (internal/nstest), changes the
// namespace's /etc/resolv.conf through the real installer code and resolves
// names through the real glibc path (getent), against DNS servers listening
// on loopback addresses inside the namespace. It has no non-test code.
package e2e

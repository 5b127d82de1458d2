// Package e2e holds end-to-end tests of activation on Linux: each test runs
// in fresh network and mount namespaces (internal/nstest), changes the
// namespace's DNS configuration through the real activation code and resolves
// names through the real glibc path (getent), against DNS servers listening
// inside the namespace. The desktop's own DNS daemons run for real where the
// backend needs them: systemd-resolved, NetworkManager and Debian's
// resolvconf, from Debian's packages (see nstest.StartResolved and
// docs/platforms.md). It has no non-test code.
package e2e

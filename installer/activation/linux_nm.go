package activation

// nmBackend writes /etc/resolv.conf like the direct backend, and expects
// NetworkManager to rewrite it on every connection change: the watcher
// (Reassert) adopts NetworkManager's new file as the original and writes
// dnspin's again. NetworkManager's connection profiles are not changed.
type nmBackend struct{ directBackend }

var _ linuxBackend = nmBackend{}

func (nmBackend) name() Backend { return BackendNetworkManager }

package activation

// PortHolder names the program holding the local address addr ("IP:port")
// for network ("udp" or "tcp"), like "dnsmasq (pid 812)", so a port-53
// conflict can be explained to the user. It returns "" when it cannot tell
// (another OS, no permission to look, nobody holds it). A socket bound to
// the wildcard address (0.0.0.0 or ::) of the same port counts as holding
// every address.
func PortHolder(network, addr string) string { return portHolder("/proc", network, addr) }

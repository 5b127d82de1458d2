//go:build !linux

package activation

func portHolder(proc, network, addr string) string { return "" }

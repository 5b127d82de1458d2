//go:build !linux

package installer

func portHolder(proc, network, addr string) string { return "" }

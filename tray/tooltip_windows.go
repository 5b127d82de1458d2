package tray

// platformTooltip is the tooltip as the binding hands it to the library.
func platformTooltip(s string) string { return cutUTF16(s, windowsTooltipUnits) }

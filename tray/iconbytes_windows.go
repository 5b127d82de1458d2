package tray

// iconBytes is the icon in the format the notification area loads: ICO.
func iconBytes(i Icon) []byte { return IconICO(i) }

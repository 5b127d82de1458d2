package tray

import (
	"embed"
	"fmt"
)

//go:generate go run gen_icons.go

//go:embed icons/*.png icons/*.ico
var iconFiles embed.FS

// IconPNG returns the PNG (64 px) for the icon colour.
func IconPNG(i Icon) []byte { return iconFile(i, "png") }

// IconICO returns the Windows ICO (16–64 px) for the icon colour.
func IconICO(i Icon) []byte { return iconFile(i, "ico") }

func iconFile(i Icon, ext string) []byte {
	b, err := iconFiles.ReadFile(fmt.Sprintf("icons/%s.%s", i, ext))
	if err != nil {
		panic(err) // the files are embedded at build time; a miss is a build bug
	}
	return b
}

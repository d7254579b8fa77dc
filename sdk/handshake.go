// Package sdk is what a Berth plugin's main calls: Serve runs the plugin
// process, and the plugin sets connect the kinds to go-plugin for both sides.
//
// A plugin binary serving a runtime is, in full:
//
//	func main() { sdk.Serve(sdk.Plugins{Runtime: myruntime.New()}) }
package sdk

import "github.com/hashicorp/go-plugin"

// Handshake is the go-plugin handshake shared by berthd and every plugin.
// The cookie only tells a plugin binary that berthd started it; it is not a
// secret. ProtocolVersion changes when the wire breaks compatibility.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "BERTH_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "73672b2fb112c5ac7c7f5158efd60f32afcb66d55c61e57858d00c2248f4a705",
}

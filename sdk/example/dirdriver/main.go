// Command dirdriver is an example berth.graphdriver.v1 plugin for authors of
// graph drivers. It keeps every layer as a plain directory holding a full
// copy of its parent's tree plus its own changes, which makes it slow and
// disk-hungry but needs no special file system: read it to learn the
// contract, not to run production containers.
//
// Build it, declare it in a berthd manifest and start berthd with
// --storage-driver dirdriver; see README.md.
package main

import "github.com/berth-dev/berth/sdk"

// main serves the driver over go-plugin gRPC. berthd starts the process,
// calls Info and Configure, and stops it by closing its parent pipe.
func main() {
	sdk.Serve(sdk.Plugins{GraphDriver: New()})
}

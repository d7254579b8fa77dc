// Command registry serves an in-memory image registry on 127.0.0.1 holding
// a busybox image built from the host's busybox-static, so berthd can be
// tried by hand without any registry on the internet:
//
//	make registry            # prints the address, e.g. 127.0.0.1:41234
//	docker pull 127.0.0.1:41234/busybox
//
// It runs until interrupted.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-dev/berth/kernel/image/imagetest"
)

func main() {
	log.SetFlags(0)
	reg := imagetest.StartRegistry()
	defer reg.Close()
	ref, digest, err := reg.PushBusybox(context.Background(), "busybox:latest")
	if err != nil {
		log.Fatalf("registry: push busybox: %v", err)
	}
	fmt.Printf("registry on %s serving %s (%s)\n", reg.Host, ref, digest)
	fmt.Printf("try: docker pull %s   (with DOCKER_HOST pointing at berthd)\n", ref)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}

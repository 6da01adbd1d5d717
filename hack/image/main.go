// Command image (`make image`) builds the Tweezer image (runner, manager,
// facade), the node's pause image and the notebook stand-in as OCI
// tarballs, with no Docker, and imports them into the node's containerd
// when one is running (make run NODE=1 imports them itself at start).
//
//	go run ./hack/image [-out bin/images] [-containerd .tweezer/node/containerd/containerd.sock]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tweezer-dev/tweezer/internal/node"
)

func main() {
	out := flag.String("out", "bin/images", "folder of the OCI tarballs")
	socket := flag.String("containerd", ".tweezer/node/containerd/containerd.sock", "socket of the node's containerd to import into, if it is running (empty: import nowhere)")
	flag.Parse()
	start := time.Now()
	images, err := node.BuildImages(context.Background(), *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	for _, img := range images {
		fmt.Println(img)
	}
	fmt.Fprintf(os.Stderr, "[image] %s, %s and %s built in %s\n", node.TweezerImage, node.PauseImage, node.NotebookImage, time.Since(start).Round(time.Second))
	if *socket == "" {
		return
	}
	if _, err := os.Stat(*socket); err != nil {
		fmt.Fprintf(os.Stderr, "[image] no containerd at %s: not imported (make run NODE=1 imports them at start)\n", *socket)
		return
	}
	if err := node.ImportImages(context.Background(), *socket, images); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "[image] imported into the containerd at %s\n", *socket)
}

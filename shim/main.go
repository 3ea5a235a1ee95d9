// SPDX-License-Identifier: Apache-2.0

// containerd-shim-msb-v2 is a containerd runtime v2 shim (runtime type
// io.containerd.msb.v2): containerd and Kubernetes run each pod as one
// microsandbox, a microVM made by libmsb (through the Go SDK), and the
// pod's containers as processes inside it.
//
// containerd runs the binary three ways (the runtime v2 contract,
// containerd's runtime/v2/README.md):
//
//	containerd-shim-msb-v2 -namespace NS -address SOCK -publish-binary BIN -id ID start
//	containerd-shim-msb-v2 -namespace NS -address SOCK -publish-binary BIN -id ID -bundle DIR delete
//	containerd-shim-msb-v2 -namespace NS -address SOCK -publish-binary BIN -id ID   (the daemon `start` spawns)
//
// `start` prints a plain unix:// address (containerd 1.6 reads nothing
// else) and returns; the daemon serves the Task API over ttrpc on it for
// every container of the pod. `delete` cleans up after a daemon that died.
// Theory of operation: docs/kubernetes.md.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/containerd/containerd/api/types"
	"google.golang.org/protobuf/proto"
)

const runtimeType = "io.containerd.msb.v2"

// version is the project's (MSB_VERSION in include/msb.h), set by make.
var version = "unknown"

type flags struct {
	namespace string
	address   string
	publish   string
	id        string
	bundle    string
	debug     bool
	action    string
}

func parseFlags() (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("containerd-shim-msb-v2", flag.ContinueOnError)
	fs.StringVar(&f.namespace, "namespace", "", "containerd namespace")
	fs.StringVar(&f.address, "address", "", "containerd's gRPC socket")
	fs.StringVar(&f.publish, "publish-binary", "", "containerd's binary (unused: events go over ttrpc)")
	fs.StringVar(&f.id, "id", "", "the container's id")
	fs.StringVar(&f.bundle, "bundle", "", "the container's bundle (default: the working directory)")
	fs.BoolVar(&f.debug, "debug", false, "log more")
	v := fs.Bool("v", false, "print the version and exit")
	info := fs.Bool("info", false, "print the runtime's RuntimeInfo (protobuf) and exit, as containerd 2.x asks")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: containerd-shim-msb-v2 -namespace NS -address SOCK -id ID [-bundle DIR] [start|delete]\n"+
			"  a containerd runtime v2 shim (runtime type io.containerd.msb.v2); containerd runs it.\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return nil, err
	}
	if *info {
		b, err := proto.Marshal(&types.RuntimeInfo{Name: runtimeType,
			Version: &types.RuntimeVersion{Version: version}})
		if err != nil {
			return nil, err
		}
		os.Stdout.Write(b)
		os.Exit(0)
	}
	if *v {
		fmt.Printf("containerd-shim-msb-v2 %s (microsandbox), runtime %s, Task API containerd.task.v2\n", version, runtimeType)
		os.Exit(0)
	}
	f.action = fs.Arg(0)
	if fs.NArg() > 1 {
		return nil, fmt.Errorf("one action at most (start or delete), got %q", fs.Args())
	}
	if f.namespace == "" || f.id == "" {
		return nil, fmt.Errorf("-namespace and -id are required (containerd gives them)")
	}
	if f.bundle == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		f.bundle = wd
	}
	return f, nil
}

func main() {
	f, err := parseFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "containerd-shim-msb-v2: %v\n", err)
		os.Exit(2)
	}
	switch f.action {
	case "start":
		err = start(f)
	case "delete":
		err = cleanup(f)
	case "boot":
		err = bootHelper(f)
	case "":
		err = serve(f)
	default:
		err = fmt.Errorf("unknown action %q: containerd runs this shim with start, delete or none", f.action)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "containerd-shim-msb-v2: %s: %v\n", f.id, err)
		os.Exit(1)
	}
}

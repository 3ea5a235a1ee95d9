// SPDX-License-Identifier: Apache-2.0

// criclient speaks the kubelet's side of the CRI (runtime.v1) to a
// containerd, one call a run, as crictl does, for tests/e2e/test_cri.py:
//
//	criclient -a SOCK [-hostname H] runp NAME HANDLER LOGDIR [KEY=VALUE...]   prints the pod's id
//	criclient -a SOCK create POD NAME IMAGE LOGDIR -- ARGS...    prints the container's id
//	criclient -a SOCK start|stop|rm ID
//	criclient -a SOCK exec ID -- ARGS...                         its output; exits with its status
//	criclient -a SOCK stopp|rmp POD
//	criclient -a SOCK ip POD                                      the pod's IP
//	criclient -a SOCK pods                                        ids and states
//
// Pods use the node's network (no CNI here). The pod's configuration is
// rebuilt from NAME for create, as a kubelet keeps it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var hostname = flag.String("hostname", "", "the pod's hostname (none: the node's, which runc needs on the node's network)")

var podNetwork = flag.Bool("podnet", false, "the pod's own network namespace (CNI's), not the node's")

func podConfig(name, logdir string, ann map[string]string) *cri.PodSandboxConfig {
	mode := cri.NamespaceMode_NODE
	if *podNetwork {
		mode = cri.NamespaceMode_POD
	}
	return &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: name, Uid: name + "-uid", Namespace: "default"},
		Hostname:     *hostname,
		LogDirectory: logdir,
		Annotations:  ann,
		Linux: &cri.LinuxPodSandboxConfig{SecurityContext: &cri.LinuxSandboxSecurityContext{
			NamespaceOptions: &cri.NamespaceOption{Network: mode},
		}},
	}
}

func fail(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "criclient: "+f+"\n", a...)
	os.Exit(2)
}

func main() {
	addr := flag.String("a", "", "containerd's socket")
	flag.Parse()
	args := flag.Args()
	if *addr == "" || len(args) == 0 {
		fail("usage: criclient -a SOCK VERB ARGS (see the source)")
	}
	conn, err := grpc.NewClient("unix://"+*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail("%v", err)
	}
	defer conn.Close()
	rt := cri.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cmdArgs := func(from int) []string {
		for i := from; i < len(args); i++ {
			if args[i] == "--" {
				return args[i+1:]
			}
		}
		fail("%s: no -- ARGS", args[0])
		return nil
	}
	need := func(n int) {
		if len(args) < n {
			fail("%s: too few arguments", args[0])
		}
	}
	switch args[0] {
	case "runp":
		need(4)
		ann := map[string]string{}
		for _, kv := range args[4:] {
			k, v, _ := strings.Cut(kv, "=")
			ann[k] = v
		}
		r, err := rt.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{
			Config: podConfig(args[1], args[3], ann), RuntimeHandler: args[2]})
		if err != nil {
			fail("RunPodSandbox: %v", err)
		}
		fmt.Println(r.PodSandboxId)
	case "create":
		need(5)
		st, err := rt.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: args[1]})
		if err != nil {
			fail("PodSandboxStatus: %v", err)
		}
		name := st.Status.Metadata.Name
		r, err := rt.CreateContainer(ctx, &cri.CreateContainerRequest{
			PodSandboxId:  args[1],
			SandboxConfig: podConfig(name, args[4], st.Status.Annotations),
			Config: &cri.ContainerConfig{
				Metadata: &cri.ContainerMetadata{Name: args[2]},
				Image:    &cri.ImageSpec{Image: args[3]},
				Command:  cmdArgs(5),
				LogPath:  args[2] + ".log",
				Envs:     []*cri.KeyValue{{Key: "CONTAINER", Value: args[2]}},
			},
		})
		if err != nil {
			fail("CreateContainer: %v", err)
		}
		fmt.Println(r.ContainerId)
	case "start":
		need(2)
		if _, err := rt.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: args[1]}); err != nil {
			fail("StartContainer: %v", err)
		}
	case "stop":
		need(2)
		if _, err := rt.StopContainer(ctx, &cri.StopContainerRequest{ContainerId: args[1], Timeout: 5}); err != nil {
			fail("StopContainer: %v", err)
		}
	case "rm":
		need(2)
		if _, err := rt.RemoveContainer(ctx, &cri.RemoveContainerRequest{ContainerId: args[1]}); err != nil {
			fail("RemoveContainer: %v", err)
		}
	case "exec":
		need(2)
		r, err := rt.ExecSync(ctx, &cri.ExecSyncRequest{ContainerId: args[1], Cmd: cmdArgs(2), Timeout: 60})
		if err != nil {
			fail("ExecSync: %v", err)
		}
		os.Stdout.Write(r.Stdout)
		os.Stderr.Write(r.Stderr)
		os.Exit(int(r.ExitCode))
	case "stopp":
		need(2)
		if _, err := rt.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: args[1]}); err != nil {
			fail("StopPodSandbox: %v", err)
		}
	case "rmp":
		need(2)
		if _, err := rt.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: args[1]}); err != nil {
			fail("RemovePodSandbox: %v", err)
		}
	case "ip":
		need(2)
		st, err := rt.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: args[1]})
		if err != nil {
			fail("PodSandboxStatus: %v", err)
		}
		if st.Status.Network != nil {
			fmt.Println(st.Status.Network.Ip)
		}
	case "pods":
		r, err := rt.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{})
		if err != nil {
			fail("ListPodSandbox: %v", err)
		}
		for _, p := range r.Items {
			fmt.Println(p.Id, p.State)
		}
	default:
		fail("unknown verb %q", args[0])
	}
}

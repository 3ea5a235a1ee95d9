// SPDX-License-Identifier: Apache-2.0

// Command sdkbench is the Go SDK's side of bench/sdk.py, one measurement
// per run, as bench/sdkbench.c is the C API's (same arguments, same
// output):
//
//	sdkbench NAME exec N            N round trips of `true` (sb.ExecArgs)
//	sdkbench NAME write GUEST HOST  HOST's bytes into GUEST (FS().WriteFrom)
//	sdkbench NAME read GUEST HOST   GUEST's bytes into HOST (FS().ReadTo)
//
// It prints microseconds, one line per call for exec, one line otherwise.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

const usage = "usage: sdkbench NAME exec N | write|read GUEST HOST"

func main() {
	a := os.Args
	if len(a) < 4 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err := run(context.Background(), a[1], a[2], a[3:]); err != nil {
		fmt.Fprintln(os.Stderr, "sdkbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, name, what string, rest []string) error {
	sb, err := msb.GetSandbox(ctx, name)
	if err != nil {
		return err
	}
	defer sb.Close() // a handle got by name: releases it only
	switch {
	case what == "exec":
		n, err := strconv.Atoi(rest[0])
		if err != nil || n < 1 {
			n = 1
		}
		for i := 0; i < n; i++ {
			t0 := time.Now()
			r, err := sb.ExecArgs(ctx, []string{"true"})
			if err != nil {
				return err
			}
			if r.ExitCode != 0 {
				return fmt.Errorf("true exited %d", r.ExitCode)
			}
			fmt.Println(time.Since(t0).Microseconds())
		}
	case what == "write" && len(rest) == 2:
		f, err := os.Open(rest[1])
		if err != nil {
			return err
		}
		defer f.Close()
		t0 := time.Now()
		if _, err := sb.FS().WriteFrom(ctx, rest[0], f); err != nil {
			return err
		}
		fmt.Println(time.Since(t0).Microseconds())
	case what == "read" && len(rest) == 2:
		f, err := os.Create(rest[1])
		if err != nil {
			return err
		}
		t0 := time.Now()
		if _, err := sb.FS().ReadTo(ctx, rest[0], f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Println(time.Since(t0).Microseconds())
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	return nil
}

// SPDX-License-Identifier: Apache-2.0

package main

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A FIFO with a writer held open, as containerd holds one: what it wrote
// before CloseIO is read before the end, however late the reader comes.
func stdinPair(t *testing.T) (*stdinFifo, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stdin")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := openStdin(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); w.Close() })
	return in, w
}

func TestStdinWrittenBeforeCloseIOIsRead(t *testing.T) {
	in, w := stdinPair(t)
	if _, err := w.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	// CloseIO before the copy has read a byte (a loaded host)
	in.CloseWrite()
	got, err := io.ReadAll(in)
	if err != nil || string(got) != "12345" {
		t.Fatalf("read %q, %v; want 12345", got, err)
	}
}

func TestStdinMoreThanOneReadBeforeCloseIO(t *testing.T) {
	in, w := stdinPair(t)
	big := make([]byte, 60000)
	for i := range big {
		big[i] = byte(i)
	}
	if _, err := w.Write(big); err != nil {
		t.Fatal(err)
	}
	in.CloseWrite()
	buf := make([]byte, 4096)
	var got []byte
	for {
		n, err := in.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != string(big) {
		t.Fatalf("read %d bytes, want %d", len(got), len(big))
	}
}

func TestStdinCloseIOWakesABlockedRead(t *testing.T) {
	in, w := stdinPair(t)
	done := make(chan []byte)
	go func() {
		got, _ := io.ReadAll(in)
		done <- got
	}()
	w.Write([]byte("ab"))
	time.Sleep(50 * time.Millisecond)
	in.CloseWrite()
	select {
	case got := <-done:
		if string(got) != "ab" {
			t.Fatalf("read %q, want ab", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("CloseIO did not end a blocked read")
	}
}

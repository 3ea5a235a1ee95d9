// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// Events both ways on the shared sandbox: the guest's in order to a
// stream and to On, the host's to `msb event wait`.
func TestEventsBothWays(t *testing.T) {
	sb := sharedSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s, err := sb.Events(ctx, "go.iter")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan string, 8)
	if err := sb.On(ctx, "go.on", func(ev *msb.Event) { got <- string(ev.Data) }); err != nil {
		t.Fatal(err)
	}
	seq, err := sb.Emit(ctx, "go.go", map[string]int{"n": 5})
	if err != nil || seq == 0 {
		t.Fatalf("Emit: %d %v", seq, err)
	}
	res, err := sb.Shell(ctx, "msb event wait go.go; for i in 1 2 3; do "+
		"msb event emit go.iter $i; msb event emit go.on $i; done")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(res.Stdout)) != `{"n":5}` {
		t.Fatalf("the guest got %q", res.Stdout)
	}
	for i := 1; i <= 3; i++ {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if json.Unmarshal(ev.Data, &n) != nil || n != i || ev.Source != "guest" {
			t.Fatalf("event %d: %+v", i, ev)
		}
		select {
		case d := <-got:
			if d != string(rune('0'+i)) {
				t.Fatalf("On got %q for %d", d, i)
			}
		case <-ctx.Done():
			t.Fatal("On got nothing")
		}
	}
}

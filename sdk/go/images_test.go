// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"encoding/json"
	"errors"
	"testing"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// An image's record, with the OCI config a sandbox's defaults come from.
func TestInspectImage(t *testing.T) {
	seedImages(t)
	ctx := testCtx(t)
	raw, err := msb.InspectImage(ctx, "python:3.12")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Reference string `json:"reference"`
		Config    struct {
			Config struct {
				Env []string `json:"Env"`
			} `json:"config"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	found := false
	for _, kv := range doc.Config.Config.Env {
		found = found || kv == "SEED_IMAGE=python:3.12"
	}
	if doc.Reference != "python:3.12" || !found {
		t.Fatalf("python:3.12's record: %s", raw)
	}
	if _, err := msb.InspectImage(ctx, "nosuch:1"); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("a missing image: %v", err)
	}
	if _, err := msb.InspectImage(ctx, "bad\x00ref"); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("a NUL in the reference: %v", err)
	}
}

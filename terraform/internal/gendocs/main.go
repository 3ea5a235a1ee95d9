// SPDX-License-Identifier: Apache-2.0

// Command gendocs writes the provider's reference into docs/ (run from
// terraform/: go run ./internal/gendocs), rendered from its schema.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/microsandbox/microsandbox/terraform/internal/provider"
)

func main() {
	docs, err := provider.Docs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	for name, text := range docs {
		p := filepath.Join("docs", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, []byte(text), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
}

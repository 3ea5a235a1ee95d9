// SPDX-License-Identifier: Apache-2.0

package provider

// Docs renders the provider's reference from its own schema, as the
// plugin protocol gives it to a CLI (the data tfplugindocs reads), in
// tfplugindocs' layout: docs/index.md, docs/resources/NAME.md,
// docs/data-sources/NAME.md. `go run ./internal/gendocs` writes them;
// TestUnitDocs fails when the committed ones are not current.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

var examples = map[string]string{
	"microsandbox_sandbox": `resource "microsandbox_sandbox" "agent" {
  name  = "agent"
  image = "python:3.12"

  secret {
    env_name     = "OPENAI_API_KEY"
    value        = var.openai_api_key
    allowed_host = "api.openai.com"
  }

  network {
    allow      = ["api.openai.com", "*.stripe.com"]
    block_cidr = ["169.254.0.0/16", "10.0.0.0/8"]
  }

  volume {
    mount_path = "/data"
    backend    = "passthrough"
    source     = "./data"
  }

  volume {
    mount_path = "/cache"
    backend    = "memory"
  }
}

resource "microsandbox_sandbox" "ml_project" {
  name  = "ml-project"
  image = "python:3.12"

  sync {
    enabled = true # pushed whenever Terraform stops it: msb pull ml-project
  }
}

resource "microsandbox_sandbox" "orchestrator" {
  name         = "orchestrator"
  image        = "python:3.12"
  allow_spawn  = 2 # its programs may start two live peers
  spawn_images = ["node:20"]
}

resource "microsandbox_sandbox" "coder" {
  name       = "coder"
  image      = "node:20"
  spawned_by = microsandbox_sandbox.orchestrator.id # made by the orchestrator's msb start
  network { deny_all = true }
}`,
	"microsandbox_snapshot": `resource "microsandbox_snapshot" "ml_ready" {
  sandbox = microsandbox_sandbox.base.name
  name    = "ml-ready"
}

resource "microsandbox_sandbox" "worker" {
  count         = 100
  name          = "w-${count.index}"
  from_snapshot = microsandbox_snapshot.ml_ready.name
  env           = { WORKER_ID = count.index }
}`,
	"microsandbox_volume": `resource "microsandbox_volume" "data" {
  name = "data"
  size = 10240
}

resource "microsandbox_sandbox" "api" {
  name = "api"
  volume {
    mount_path = "/data"
    backend    = "named"
    source     = microsandbox_volume.data.name
  }
}`,
	"microsandbox_plugin": `resource "microsandbox_plugin" "dlp" {
  name     = "msb-dlp"
  registry = "ghcr.io/me/plugins"
}

resource "microsandbox_sandbox" "app" {
  name  = "app"
  image = "python:3.12"

  plugin {
    name = microsandbox_plugin.dlp.name
  }

  lifecycle {
    replace_triggered_by = [microsandbox_plugin.dlp.digest]
  }
}`,
	"microsandbox_images": `data "microsandbox_images" "all" {}

output "images" {
  value = data.microsandbox_images.all.images[*].reference
}`,
	"microsandbox_plugins": `data "microsandbox_plugins" "dlp" {
  registry = "ghcr.io/me/plugins"
  query    = "pii"
}

output "found" {
  value = data.microsandbox_plugins.dlp.plugins[*].name
}`,
	"microsandbox_sandboxes": `data "microsandbox_sandboxes" "running" {
  running = true
}`,
}

// Docs is the reference: file path (under docs/) to its markdown.
func Docs() (map[string]string, error) {
	ctx := context.Background()
	s, err := providerserver.NewProtocol6WithError(New())()
	if err != nil {
		return nil, err
	}
	resp, err := s.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		return nil, err
	}
	if len(resp.Diagnostics) > 0 {
		return nil, fmt.Errorf("schema: %s: %s", resp.Diagnostics[0].Summary, resp.Diagnostics[0].Detail)
	}
	out := map[string]string{}
	var b strings.Builder
	b.WriteString("# microsandbox provider\n\n" + resp.Provider.Block.Description + "\n\n" +
		"Generated from the provider's schema by `go run ./internal/gendocs` (in terraform/).\n\n" +
		"## Example Usage\n\n```terraform\nprovider \"microsandbox\" {}\n```\n\n")
	writeBlock(&b, "", resp.Provider.Block)
	b.WriteString("\n## Resources\n\n")
	for _, name := range sortedKeys(resp.ResourceSchemas) {
		fmt.Fprintf(&b, "- [%s](resources/%s.md)\n", name, short(name))
	}
	b.WriteString("\n## Data Sources\n\n")
	for _, name := range sortedKeys(resp.DataSourceSchemas) {
		fmt.Fprintf(&b, "- [%s](data-sources/%s.md)\n", name, short(name))
	}
	out["index.md"] = b.String()
	for name, sc := range resp.ResourceSchemas {
		out["resources/"+short(name)+".md"] = page(name, "Resource", sc)
	}
	for name, sc := range resp.DataSourceSchemas {
		out["data-sources/"+short(name)+".md"] = page(name, "Data Source", sc)
	}
	return out, nil
}

func short(name string) string { return strings.TrimPrefix(name, "microsandbox_") }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func page(name, kind string, sc *tfprotov6.Schema) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s (%s)\n\n%s\n\n", name, kind, sc.Block.Description)
	if ex := examples[name]; ex != "" {
		fmt.Fprintf(&b, "## Example Usage\n\n```terraform\n%s\n```\n\n", ex)
	}
	writeBlock(&b, "", sc.Block)
	if kind == "Resource" {
		fmt.Fprintf(&b, "\n## Import\n\nBy name:\n\n```shell\nterraform import %s.NAME NAME\n```\n", name)
	}
	return b.String()
}

func typeName(t tftypes.Type) string {
	switch {
	case t.Is(tftypes.String):
		return "String"
	case t.Is(tftypes.Number):
		return "Number"
	case t.Is(tftypes.Bool):
		return "Boolean"
	case t.Is(tftypes.List{}):
		return "List of " + typeName(t.(tftypes.List).ElementType)
	case t.Is(tftypes.Map{}):
		return "Map of " + typeName(t.(tftypes.Map).ElementType)
	case t.Is(tftypes.Set{}):
		return "Set of " + typeName(t.(tftypes.Set).ElementType)
	}
	return "Object"
}

// writeBlock writes a block's attributes by kind (Required, Optional,
// Read-Only), then its nested blocks and nested attributes' schemas.
func writeBlock(b *strings.Builder, prefix string, blk *tfprotov6.SchemaBlock) {
	type item struct{ name, line string }
	groups := map[string][]item{}
	var nested []struct {
		path  string
		block *tfprotov6.SchemaBlock
	}
	for _, a := range blk.Attributes {
		kind := "Optional"
		switch {
		case a.Required:
			kind = "Required"
		case a.Computed && !a.Optional:
			kind = "Read-Only"
		}
		ty := ""
		if a.NestedType != nil {
			ty = "Attributes List"
			sub := &tfprotov6.SchemaBlock{Attributes: a.NestedType.Attributes}
			nested = append(nested, struct {
				path  string
				block *tfprotov6.SchemaBlock
			}{prefix + a.Name, sub})
		} else {
			ty = typeName(a.Type)
		}
		var flags []string
		if a.Sensitive {
			flags = append(flags, "Sensitive")
		}
		if a.WriteOnly {
			flags = append(flags, "Write-only")
		}
		if len(flags) > 0 {
			ty += ", " + strings.Join(flags, ", ")
		}
		line := fmt.Sprintf("- `%s` (%s) %s", a.Name, ty, a.Description)
		if a.NestedType != nil {
			line += fmt.Sprintf(" (see [below for nested schema](#nestedatt--%s))", anchor(prefix+a.Name))
		}
		groups[kind] = append(groups[kind], item{a.Name, line})
	}
	for _, nb := range blk.BlockTypes {
		kind := "Optional"
		if nb.MinItems > 0 {
			kind = "Required"
		}
		line := fmt.Sprintf("- `%s` (Block%s) %s (see [below for nested schema](#nestedblock--%s))",
			nb.TypeName, map[tfprotov6.SchemaNestedBlockNestingMode]string{
				tfprotov6.SchemaNestedBlockNestingModeList:   " List",
				tfprotov6.SchemaNestedBlockNestingModeSingle: "",
			}[nb.Nesting], nb.Block.Description, anchor(prefix+nb.TypeName))
		groups[kind] = append(groups[kind], item{nb.TypeName, line})
		nested = append(nested, struct {
			path  string
			block *tfprotov6.SchemaBlock
		}{prefix + nb.TypeName, nb.Block})
	}
	if prefix == "" {
		b.WriteString("## Schema\n")
	}
	for _, kind := range []string{"Required", "Optional", "Read-Only"} {
		items := groups[kind]
		if len(items) == 0 {
			continue
		}
		sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
		fmt.Fprintf(b, "\n### %s\n\n", kind)
		for _, it := range items {
			b.WriteString(it.line + "\n")
		}
	}
	sort.Slice(nested, func(i, j int) bool { return nested[i].path < nested[j].path })
	for _, n := range nested {
		fmt.Fprintf(b, "\n<a id=\"nestedblock--%s\"></a>\n### Nested Schema for `%s`\n",
			anchor(n.path), n.path)
		writeBlock(b, n.path+".", n.block)
	}
}

func anchor(p string) string { return strings.ReplaceAll(p, ".", "--") }

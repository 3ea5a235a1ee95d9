// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"errors"
	"reflect"
	"testing"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// The command-line rule, case by case (Python's shlex.split agrees on
// every one of these).
func TestSplitCommand(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"pip install numpy pandas torch", []string{"pip", "install", "numpy", "pandas", "torch"}},
		{"  echo \t a\n b  ", []string{"echo", "a", "b"}},
		{`python -c "print('hello')"`, []string{"python", "-c", "print('hello')"}},
		{`echo 'a "b" c'`, []string{"echo", `a "b" c`}},
		{`echo "a \"b\" \\ \$x"`, []string{"echo", `a "b" \ \$x`}},
		{`echo a\ b \'c`, []string{"echo", "a b", "'c"}},
		{`echo a"b c"d`, []string{"echo", "ab cd"}},
		{`echo "" ''`, []string{"echo", "", ""}},
		{`echo $HOME *.txt ~ a|b ; c > d`, []string{"echo", "$HOME", "*.txt", "~", "a|b", ";", "c", ">", "d"}},
		{`echo 'it''s'`, []string{"echo", "its"}},
		{"", nil},
		{"   ", nil},
		{"émoji ✓ 'ünï'", []string{"émoji", "✓", "ünï"}},
	}
	for _, c := range cases {
		got, err := msb.SplitCommand(c.in)
		if err != nil {
			t.Errorf("SplitCommand(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitCommand(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, bad := range []string{`echo "abc`, `echo 'abc`, `echo abc\`} {
		_, err := msb.SplitCommand(bad)
		if !errors.Is(err, msb.ErrInvalid) {
			t.Errorf("SplitCommand(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

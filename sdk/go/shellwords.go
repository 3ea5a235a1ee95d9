// SPDX-License-Identifier: Apache-2.0

package msb

import "strings"

// SplitCommand splits a command line into words the way a POSIX shell
// splits a simple command, and nothing more (the rule Exec uses, the same
// as Python's shlex.split):
//
//   - blanks (space, tab, newline, carriage return) separate words;
//   - 'single quotes' keep everything between them as it is;
//   - "double quotes" keep everything as it is but \" and \\, which stand
//     for " and \;
//   - outside quotes, a backslash keeps the next character as it is;
//   - quoted and unquoted parts next to each other make one word
//     (a"b c"d is "ab cd"); "" and ” make an empty word.
//
// Nothing is expanded: no variables ($HOME stays $HOME), no globs, no ~;
// | ; & < > are ordinary characters, so "a | b" is three words. For any
// of that, use Shell, which runs sh -c. An unterminated quote or a
// trailing backslash is ErrInvalid.
func SplitCommand(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word (quotes make one, even empty)
		quote byte
	)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case quote == '"':
			switch {
			case ch == '"':
				quote = 0
			case ch == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\'):
				i++
				cur.WriteByte(line[i])
			default:
				cur.WriteByte(ch)
			}
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case ch == '\'' || ch == '"':
			quote, in = ch, true
		case ch == '\\':
			if i+1 >= len(line) {
				return nil, newError("split command", codeInvalid,
					"the command line ends with a lone backslash: %q", line)
			}
			i++
			cur.WriteByte(line[i])
			in = true
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if quote != 0 {
		return nil, newError("split command", codeInvalid,
			"the command line has an unterminated %c quote: %q", quote, line)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

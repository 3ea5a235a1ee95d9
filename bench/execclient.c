/* SPDX-License-Identifier: Apache-2.0 */
/* execclient.c - the least a process can do for one exec (bench/exec.py)
 *
 * execclient SOCKET: connects to a sandbox's API socket, asks it to run
 * `true` (the request msb exec sends) and reads until the result: a
 * process per call like msb exec, static (musl), without msb's start (the
 * dynamic loader, libmsb, json-c) or its work around the request. Between
 * this row and msb exec's is what the CLI itself costs; between this row
 * and the API socket's from the bench's own process, what a process per
 * call costs. Exits 0 if the command exited 0.
 */

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static const char req[] =
		"{\"id\":1,\"method\":\"exec\",\"params\":{\"argv\":[\"true\"]}}\n";
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char buf[4096];
	size_t n = 0;
	ssize_t r;
	int s;

	if (argc != 2 || strlen(argv[1]) >= sizeof(a.sun_path))
		return 2;
	strcpy(a.sun_path, argv[1]);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    write(s, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
		return 2;
	while (n < sizeof(buf) - 1 &&
	       (r = read(s, buf + n, sizeof(buf) - 1 - n)) > 0) {
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "\"result\""))
			return strstr(buf, "\"exit_code\":0") ? 0 : 1;
	}
	return 1;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* msb_net_plugin.h - network plugins: hooks into a sandbox's network stack
 *
 * A plugin is a shared object the sandbox's supervisor loads with dlopen()
 * (`msb run --net-plugin PATH`, or msb_net_config.plugin). It runs inside
 * the supervisor's event loop, on its one thread. on_dns and on_connect
 * see what the sandbox's policy has allowed, and can only narrow it;
 * on_frame is the frame-level backend, before the stack and its policy:
 * full control, for the sandbox's owner (a plugin is trusted code).
 *
 * The shared object exports one function, named MSB_NET_PLUGIN_ENTRY:
 *
 *   const struct msb_net_plugin *msb_net_plugin_open(
 *           const struct msb_net_host *host, void **state);
 *
 * It returns its table of hooks (NULL refuses to load, and the sandbox
 * does not start) and may set *@state, which every hook then receives.
 * Hooks left NULL mean "allow". Hooks must not block: the whole sandbox
 * network waits for them.
 *
 * Ports are in host byte order; addresses are struct msb_net_addr, either
 * family, in network order.
 */
#ifndef MSB_NET_PLUGIN_H
#define MSB_NET_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

/* 3 added on_http at the end, 4 on_http_response after it; plugins built
 * for 2 and 3 still load (without the hooks they lack). */
#define MSB_NET_PLUGIN_ABI 4
#define MSB_NET_PLUGIN_ENTRY "msb_net_plugin_open"
#define MSB_NET_DNS_ADDRS 16

enum msb_net_verdict {
	MSB_NET_ALLOW = 0,  /* go on as the policy decided */
	MSB_NET_DENY = 1,   /* DNS: NXDOMAIN; connect: RST / ICMP prohibited;
			     * frame: consumed (the stack never sees it) */
	MSB_NET_ANSWER = 2, /* DNS only: answer with the addresses given */
};

/**
 * struct msb_net_addr - an address of either family
 * @family: 4 or 6
 * @addr:   network byte order; IPv4 in the first 4 bytes
 */
struct msb_net_addr {
	uint8_t family;
	uint8_t addr[16];
};

/**
 * struct msb_net_host - what the stack offers a plugin
 * @ctx:        pass to the functions below
 * @log:        one line in the sandbox's log (`msb logs`)
 * @emit_frame: queue an Ethernet frame to the guest (from the destination
 *              MAC on); only from within a hook. Return: 0, or -1 if the
 *              link is full (the frame is dropped, as a NIC would)
 */
struct msb_net_host {
	void *ctx;
	void (*log)(void *ctx, const char *msg);
	int (*emit_frame)(void *ctx, const uint8_t *frame, size_t len);
};

enum msb_http_verdict {
	MSB_HTTP_FORWARD = 0, /* send it on (placeholders swapped where due) */
	MSB_HTTP_BLOCK = 1,   /* answer 403 with the reason; the request never
			       * leaves and the connection is closed */
	MSB_HTTP_MODIFY = 2,  /* send it with the body replaced */
};

/**
 * struct msb_http_request - one HTTP/1.1 request from the guest, whole
 * @tls:      1: inside intercepted TLS; 0: plain HTTP
 * @host:     the Host header, lowercase, without its port
 * @head:     the request line and headers as the guest sent them, CRLF
 *            separated, through the empty line; @head_len bytes
 * @body:     the body, de-chunked; @body_len bytes (NULL when empty)
 * @body_streamed: a body over 8 MiB, of this many bytes (SIZE_MAX:
 *            chunked, length unknown): passed on as it comes, not held, so
 *            not shown (@body is NULL); MSB_HTTP_MODIFY then refuses it
 *
 * Secrets' placeholders are still in: hooks never see a secret's value.
 */
struct msb_http_request {
	int tls;
	const char *host;
	const char *head;
	size_t head_len;
	const uint8_t *body;
	size_t body_len;
	size_t body_streamed;
};

/**
 * struct msb_http_action - what on_http fills in beyond its verdict
 * @reason:   BLOCK: why, for the 403 and the log line (NUL-terminated)
 * @body:     MODIFY: the new body, @body_len bytes; the plugin's memory,
 *            read before the hook is called again
 */
struct msb_http_action {
	char reason[200];
	const uint8_t *body;
	size_t body_len;
};

/**
 * struct msb_http_response - one HTTP/1.1 answer to the guest, before the
 * guest sees any of it
 * @tls:      1: inside intercepted TLS; 0: plain HTTP
 * @host:     the Host of the request it answers, lowercase, no port
 * @request:  that request's line ("GET /x HTTP/1.1"), as sent; "" for an
 *            answer nobody asked for
 * @status:   its status code
 * @head:     the status line and headers, each line ending in CRLF,
 *            through the empty line; @head_len bytes
 * @body:     the body, de-chunked; @body_len bytes (NULL when empty, and
 *            for an answer without a body: to HEAD, 204, 304)
 * @body_streamed: a body over 8 MiB (SIZE_MAX: chunked or until close,
 *            length unknown): passed on as it comes, not held, so not
 *            shown (@body is NULL); a new body is then refused
 *
 * In a sandbox with secrets the answer was scrubbed first: every value is
 * its placeholder again (docs/secrets.md). Hooks never see a value.
 */
struct msb_http_response {
	int tls;
	const char *host;
	const char *request;
	int status;
	const char *head;
	size_t head_len;
	const uint8_t *body;
	size_t body_len;
	size_t body_streamed;
};

/**
 * struct msb_http_response_action - what on_http_response fills in
 * @reason:   BLOCK: why, for the guest's 403 and the log line
 * @head:     MODIFY: NULL (unchanged), or the new status line and headers
 *            through the empty line, @head_len bytes; its framing headers
 *            (Content-Length, Transfer-Encoding) are replaced by the
 *            body's. The plugin's memory, read before it is called again
 * @body:     MODIFY: NULL (unchanged; give a non-NULL pointer with
 *            @body_len 0 for an empty body), or the new body
 */
struct msb_http_response_action {
	char reason[200];
	const char *head;
	size_t head_len;
	const uint8_t *body;
	size_t body_len;
};

/**
 * struct msb_net_plugin - a plugin's hooks (@on_http: ABI 3,
 * @on_http_response: ABI 4; see below)
 * @abi:        MSB_NET_PLUGIN_ABI
 * @name:       for log lines ("denied ...: plugin NAME")
 * @on_dns:     a guest's query for @name (lowercase, no trailing dot) of
 *              type @qtype (1 = A), after the policy allowed it. Return a
 *              verdict; for MSB_NET_ANSWER, fill @addrs and set *@naddrs
 *              (at most MSB_NET_DNS_ADDRS; 0 = an empty answer): the
 *              answer holds those of the asked type's family (A: IPv4,
 *              AAAA: IPv6), the rest are ignored.
 *              Answers given here are bound to the name as the resolver's
 *              would be (--net-allow), and are not checked for rebinding:
 *              the plugin is trusted.
 * @on_connect: a new guest flow to @dst:@port, @proto IPPROTO_TCP,
 *              IPPROTO_UDP, or IPPROTO_ICMP / IPPROTO_ICMPV6 for echo
 *              requests (@port 0), after the policy allowed it:
 *              MSB_NET_ALLOW or MSB_NET_DENY
 * @on_frame:   the frame-level backend: every frame from the guest, before
 *              the stack. MSB_NET_ALLOW hands it to the stack; MSB_NET_DENY
 *              means the plugin consumed it (and may answer with
 *              msb_net_host.emit_frame)
 * @close:      the sandbox stops
 * @on_http:    (ABI 3) each whole HTTP/1.1 request of the guest, on plain
 *              HTTP (any port) and inside intercepted TLS (every name but
 *              --tls-bypass ones is intercepted when a plugin has it),
 *              before any secret is swapped in: MSB_HTTP_FORWARD,
 *              MSB_HTTP_BLOCK (act->reason) or MSB_HTTP_MODIFY (act->body)
 *              (docs/secrets.md)
 * @on_http_response: (ABI 4) each HTTP/1.1 answer on the same flows,
 *              held until the hook decides (a body up to 8 MiB held
 *              whole), after secret values were scrubbed from it:
 *              MSB_HTTP_FORWARD, MSB_HTTP_BLOCK (the guest gets 403 with
 *              act->reason, the connection is closed) or MSB_HTTP_MODIFY
 *              (act->head, act->body). Answers that open a tunnel (101, a
 *              2xx to CONNECT) and 1xx interim answers are not shown
 */
struct msb_net_plugin {
	unsigned abi;
	const char *name;
	int (*on_dns)(void *state, const char *name, uint16_t qtype,
		      struct msb_net_addr *addrs, unsigned *naddrs);
	int (*on_connect)(void *state, int proto,
			  const struct msb_net_addr *dst, uint16_t port);
	int (*on_frame)(void *state, const uint8_t *frame, size_t len);
	void (*close)(void *state);
	/* ABI 3 */
	int (*on_http)(void *state, const struct msb_http_request *req,
		       struct msb_http_action *act);
	/* ABI 4 */
	int (*on_http_response)(void *state,
				const struct msb_http_response *resp,
				struct msb_http_response_action *act);
};

typedef const struct msb_net_plugin *(*msb_net_plugin_open_fn)(
	const struct msb_net_host *host, void **state);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* spawn.c - the guest's requests about its peers, in the supervisor
 *
 * A PEER frame (docs/spawn.md) is a guest program's request. Here, under
 * confinement, it is checked (spawnreq.c), each secret's placeholder is
 * looked up in the vault and swapped for its value with hosts no wider
 * than the parent's binding, and the request goes to the spawn broker
 * (broker.c), which answers on the same stream; those frames go back to
 * the guest as they come. With no --allow-spawn there is no broker and
 * every request is refused.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"
#include "spawnreq.h"
#include "supervisor.h"
#include "util.h"

/* How much of the broker's output may wait for the agent link: past it,
 * the broker is not read (its workers block) until the link drains. */
#define SPAWN_OUT_MAX (4u << 20)

static void refuse(struct sup *s, uint32_t stream, int err, const char *msg)
{
	uint8_t buf[4200];
	struct msb_tlv_w w;

	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, (uint32_t)err);
	msb_tlv_put_str(&w, MSB_T_MESSAGE, msg);
	agent_send(s, stream, MSB_F_RESULT, buf, w.len);
}

int sup_spawn_fork(struct sup *s, msb_error *err)
{
	int r;

	s->spawn_ctl = -1;
	if (!json_object_object_get_ex(s->config, "spawn", NULL))
		return 0;
	r = broker_start(s->name, s->config, &s->spawn_pid, &s->spawn_ctl);
	if (r < 0)
		return msb_fail_errno(err, r, "cannot start the spawn broker");
	return 0;
}

void sup_spawn_setup(struct sup *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->spawn_ref };

	if (s->spawn_ctl < 0)
		return;
	msb_set_nonblock(s->spawn_ctl, 1);
	s->spawn_ref.type = EV_SPAWN;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->spawn_ctl, &ev);
}

void sup_spawn_free(struct sup *s)
{
	if (s->spawn_ctl < 0)
		return;
	/* The broker sees its end and goes, and its workers with it. */
	close(s->spawn_ctl);
	s->spawn_ctl = -1;
}

void sup_spawn_stop_peers(struct sup *s)
{
	static uint8_t buf[BROKER_MSG_MAX];
	uint64_t end = msb_now_ms() + 2000;

	if (s->spawn_ctl < 0 ||
	    broker_send(s->spawn_ctl, 0, BK_STOP_PEERS, NULL, 0) < 0)
		return;
	/* what the broker still sends for the guest is for nobody now */
	for (uint64_t now; (now = msb_now_ms()) < end;) {
		struct pollfd pf = { s->spawn_ctl, POLLIN, 0 };
		struct broker_hdr h;
		ssize_t got;

		if (poll(&pf, 1, (int)(end - now)) <= 0)
			return;
		got = recv(s->spawn_ctl, buf, sizeof(buf), 0);
		if (got <= 0 && !(got < 0 && (errno == EINTR || errno == EAGAIN)))
			return;
		if (got < (ssize_t)sizeof(h))
			continue;
		memcpy(&h, buf, sizeof(h));
		if (h.kind == BK_STOPPING)
			return;
	}
}

/* secret_value() - the request's secret @o: its placeholder's value and
 * places from the vault, and hosts no wider than the parent's binding.
 * Return: 0, or -1 with @why. */
static int secret_value(struct sup *s, json_object *o, char *why, size_t wn)
{
	const char *env = json_object_get_string(json_object_object_get(o, "env"));
	const char *ph = json_object_get_string(
		json_object_object_get(o, "placeholder"));
	json_object *h = json_object_object_get(o, "hosts");
	const struct msb_vault_secret *v = NULL;
	char hosts[SECRET_HOSTS_MAX * (SECRET_HOST_MAX + 1) + 1] = "";
	char places[SECRET_PLACES_TEXT_MAX];

	for (size_t i = 0; i < s->vault.n; i++)
		if (!strcmp(s->vault.s[i].placeholder, ph))
			v = &s->vault.s[i];
	if (!v) {
		snprintf(why, wn, "--secret-env %s: what it names is not a "
			 "placeholder of this sandbox's secrets (name the "
			 "variable that holds one)", env);
		return -1;
	}
	if (h) {
		char buf[1100], *save = NULL;

		snprintf(buf, sizeof(buf), "%s", json_object_get_string(h));
		for (char *t = strtok_r(buf, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			int ok = 0;

			while (*t == ' ')
				t++;
			for (size_t k = 0; k < v->spec.nhosts && !ok; k++)
				ok = spawn_host_covers(v->spec.hosts[k], t);
			if (!ok) {
				snprintf(why, wn, "--secret-env %s: host '%s' "
					 "is wider than this sandbox's binding "
					 "of the secret: a peer's may only be "
					 "narrower", env, t);
				return -1;
			}
			if (*hosts)
				strcat(hosts, ",");
			strncat(hosts, t, sizeof(hosts) - strlen(hosts) - 1);
		}
	}
	if (!*hosts)
		for (size_t k = 0; k < v->spec.nhosts; k++) {
			if (k)
				strcat(hosts, ",");
			strcat(hosts, v->spec.hosts[k]);
		}
	secret_places_text(&v->spec, places, sizeof(places));
	json_object_object_del(o, "placeholder");
	json_object_object_add(o, "hosts", json_object_new_string(hosts));
	json_object_object_add(o, "value", json_object_new_string_len(
						   v->value, (int)v->len));
	json_object_object_add(o, "inject", json_object_new_string(places));
	return 0;
}

void sup_spawn_guest(struct sup *s, uint32_t stream, const uint8_t *p,
		     uint32_t n)
{
	char why[512];
	json_object *req, *a;
	const char *t;
	int r;

	if (!(stream & MSB_PEER_STREAM))
		return;
	if (s->state != ST_RUNNING) {
		refuse(s, stream, EAGAIN, "the sandbox is not running (it is "
		       "starting or stopping)");
		return;
	}
	if (s->spawn_ctl < 0) {
		refuse(s, stream, EPERM, "spawning is off for this sandbox: "
		       "the host starts it with --allow-spawn N to let it "
		       "start peers");
		return;
	}
	if (spawn_req_parse(p, n, &req, why, sizeof(why)) < 0) {
		refuse(s, stream, EINVAL, why);
		return;
	}
	if (json_object_object_get_ex(req, "secrets", &a))
		for (size_t i = 0; i < json_object_array_length(a); i++)
			if (secret_value(s, json_object_array_get_idx(a, i), why,
					 sizeof(why)) < 0) {
				json_object_put(req);
				refuse(s, stream, EPERM, why);
				return;
			}
	t = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	r = broker_send(s->spawn_ctl, stream, BK_REQ, t, strlen(t));
	/* the values are not kept in this copy either */
	explicit_bzero((void *)t, strlen(t));
	json_object_put(req);
	if (r < 0)
		refuse(s, stream, EAGAIN, "the host's spawn broker is busy or "
		       "gone: try again");
}

void sup_spawn_end(struct sup *s, uint32_t stream)
{
	if (s->spawn_ctl >= 0 && (stream & MSB_PEER_STREAM))
		broker_send(s->spawn_ctl, stream, BK_CANCEL, NULL, 0);
}

void sup_spawn_window(struct sup *s, uint32_t stream, const uint8_t *p)
{
	if (s->spawn_ctl >= 0 && (stream & MSB_PEER_STREAM))
		broker_send(s->spawn_ctl, stream, BK_WINDOW, p, 4);
}

void sup_spawn_input(struct sup *s, uint32_t stream, uint8_t type,
		     const uint8_t *p, uint32_t n)
{
	uint32_t kind = type == MSB_F_RESIZE ? BK_RESIZE : BK_STDIN;

	if (s->spawn_ctl < 0 || !(stream & MSB_PEER_STREAM) ||
	    (kind == BK_RESIZE && n != 4))
		return;
	/* The broker's queue full: the guest sent past its window (or
	 * the host is far behind); the request ends rather than lose
	 * what it was sent. */
	if (broker_send(s->spawn_ctl, stream, kind, p, n) < 0) {
		broker_send(s->spawn_ctl, stream, BK_CANCEL, NULL, 0);
		refuse(s, stream, EIO, "the request's input came faster than "
		       "the host took it: cancelled");
	}
}

void sup_spawn_drained(struct sup *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->spawn_ref };

	if (s->spawn_ctl < 0 || !s->spawn_paused ||
	    s->agent_out.len > SPAWN_OUT_MAX / 2)
		return;
	s->spawn_paused = 0;
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->spawn_ctl, &ev);
}

void sup_spawn_readable(struct sup *s)
{
	static uint8_t buf[BROKER_MSG_MAX + 1];

	for (;;) {
		if (s->agent_out.len > SPAWN_OUT_MAX) {
			struct epoll_event ev = { .events = 0,
						  .data.ptr = &s->spawn_ref };

			s->spawn_paused = 1;
			epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->spawn_ctl, &ev);
			return;
		}
		struct broker_hdr h;
		ssize_t got = recv(s->spawn_ctl, buf, BROKER_MSG_MAX, 0);
		const uint8_t *p = buf + sizeof(h);
		size_t n;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN)
			return;
		if (got <= 0) {
			sup_log(s, "the spawn broker is gone: peers can no "
				   "longer be started");
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->spawn_ctl, NULL);
			sup_spawn_free(s);
			return;
		}
		if ((size_t)got < sizeof(h))
			continue;
		memcpy(&h, buf, sizeof(h));
		n = (size_t)got - sizeof(h);
		if (!(h.stream & MSB_PEER_STREAM))
			continue;
		switch (h.kind) {
		case MSB_F_STDOUT:
		case MSB_F_STDERR:
		case MSB_F_EXIT:
		case MSB_F_RESULT:
		case MSB_F_WINDOW: /* the worker took this much input */
			agent_send(s, h.stream, (uint8_t)h.kind, p, n);
			break;
		case BK_SPAWNED: {
			json_object *d;

			buf[got] = 0;
			d = json_tokener_parse((const char *)p);
			if (d) {
				sup_log(s, "started peer %s",
					json_object_get_string(
						json_object_object_get(d, "name")));
				sup_event(s, "msb.peer.spawned", d);
			}
			break;
		}
		}
	}
}

/* SPDX-License-Identifier: Apache-2.0 */
/* keeper.h - the process that starts, restarts and ends plugin processes
 *
 * A confined supervisor forks nothing (src/supervisor/seccomp.c), so it
 * forks this keeper before it confines itself. The keeper starts each
 * `--plugin-process` command with one end of a socketpair as its
 * descriptor 3 and hands the other end to the supervisor; when a command
 * exits (or the supervisor asks for it to be killed: it broke the
 * protocol), the keeper starts it again, up to its restart budget, and
 * hands over the new channel. The supervisor's death kills the keeper
 * (PR_SET_PDEATHSIG), whose end kills the commands' process groups.
 */
#ifndef MSB_PLUGINS_KEEPER_H
#define MSB_PLUGINS_KEEPER_H

#include <stdint.h>
#include <sys/types.h>

/* A message on the control socket (SOCK_SEQPACKET), either way. */
struct keeper_msg {
	uint32_t index;  /* which command, in the order given */
	uint32_t kind;   /* enum keeper_kind */
	int32_t status;  /* EXITED, GAVE_UP: the wait status */
	uint32_t restarts; /* CHANNEL: how many times it was restarted */
};

enum keeper_kind {
	KM_CHANNEL = 1, /* keeper -> supervisor: a new channel (SCM_RIGHTS) */
	KM_EXITED = 2,  /* keeper -> supervisor: it exited; a restart comes */
	KM_GAVE_UP = 3, /* keeper -> supervisor: it exited, no more restarts */
	KM_KILL = 10,   /* supervisor -> keeper: kill it (then as EXITED) */
	KM_QUIT = 11,   /* supervisor -> keeper: end them all and exit */
};

struct keeper_cmd {
	const char *cmd;      /* run with /bin/sh -c */
	const char *cwd;      /* its working directory, or NULL */
	unsigned restarts;    /* how many times it is started again */
};

/**
 * keeper_start() - fork the keeper, which starts every command at once
 * @cmds, @n:  the commands
 * @sandbox:   the sandbox's name ($MSB_SANDBOX in each command)
 * @log_fd:    where their stdout and stderr go (kept open by the keeper)
 * @pid:       the keeper's pid
 * @ctl:       the supervisor's end of the control socket
 * Return: 0, or a negative errno.
 */
int keeper_start(const struct keeper_cmd *cmds, unsigned n,
		 const char *sandbox, int log_fd, pid_t *pid, int *ctl);

/* keeper_recv() - one message from the keeper, with its descriptor for
 * KM_CHANNEL in *@fd (else -1). Return: 1, 0 at its end, -errno. */
int keeper_recv(int ctl, struct keeper_msg *m, int *fd);
/* keeper_send() - ask the keeper (KM_KILL, KM_QUIT). */
int keeper_send(int ctl, uint32_t index, uint32_t kind);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* port.h - the virtio-serial port to the host: discovery and frame I/O */
#ifndef MSB_AGENT_PORT_H
#define MSB_AGENT_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Name the host gives the port (-device virtserialport,name=msb.agent). */
#define PORT_NAME "msb.agent"

/**
 * port_open() - find the port named PORT_NAME and open it
 * @timeout_ms: how long to wait for virtio devices to finish probing
 *
 * Return: 0, or -errno of the last attempt when the time is up
 */
int port_open(unsigned int timeout_ms);

/* port_fd() - the open port, or -1 before port_open() succeeded */
int port_fd(void);

/**
 * port_disconnect() - the host is gone: drop every later frame at once
 *
 * Without this each send would first wait for the host to come back.
 */
void port_disconnect(void);

/**
 * port_scratch() - MSB_FRAME_MAX bytes where a payload may be built
 *
 * A payload built here is sent by port_send() without being copied.
 * Return: the buffer; its content is gone after the next port_send()
 */
uint8_t *port_scratch(void);

/**
 * port_send() - write one whole frame, waiting while the host is slow
 * @stream:  stream id
 * @type:    enum msb_frame_type
 * @payload: @len bytes (may be port_scratch())
 * @len:     at most MSB_FRAME_MAX
 *
 * Frames are never interleaved: the agent is single-threaded and this only
 * returns once every byte of the frame is in the port.
 * Return: 0, or -errno (-ENOTCONN once the host end stayed closed for
 * seconds, after which every send fails at once)
 */
int port_send(uint32_t stream, uint8_t type, const void *payload, size_t len);

/* port_send_u32() - a frame whose payload is one big-endian u32 */
int port_send_u32(uint32_t stream, uint8_t type, uint32_t v);

/* port_send_str() - a frame whose payload is a string (ERROR, LOG) */
int port_send_str(uint32_t stream, uint8_t type, const char *s);

/**
 * port_fill() - read what the host sent, once the previous bytes are framed
 *
 * Return: number of bytes now waiting to be framed, 0 if the host end is
 * not connected, -EAGAIN if nothing arrived, or another -errno
 */
int port_fill(void);

/**
 * port_next() - the next complete frame among the bytes already read
 * @h:       the decoded header
 * @payload: @h->len bytes, valid until the next port_next() or port_fill()
 *
 * Return: 1 with a frame, 0 when more bytes are needed, -EPROTO if the host
 * sent a header that is not version 1 (the stream cannot be resynchronised)
 */
int port_next(struct msb_frame_hdr *h, const uint8_t **payload);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* save.h - between qemu.c and save.c: the engine's own view of QMP events
 * and of the save or restore under way */
#ifndef MSB_ENGINE_SAVE_H
#define MSB_ENGINE_SAVE_H

#include "engine.h"

/* msb_engine_on_event() - every QMP event of @opaque (a struct msb_vm):
 * a save or restore takes MIGRATION, then the owner's on_event has it. */
void msb_engine_on_event(void *opaque, const char *event, json_object *data);
/* msb_engine_op_end() - end the save or restore under way, if any. */
void msb_engine_op_end(struct msb_vm *vm, int rc, const char *why);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* info.h - sandboxes' records as the rest of libmsb reads them (info.c) */
#ifndef MSB_LIB_INFO_H
#define MSB_LIB_INFO_H

#include <sqlite3.h>

#include "msb.h"
#include "state.h"

/* msb_row_get() - sandbox @name's record from @db, its name checked and
 * the record reconciled (msb_db_reconcile()); msb_row_free() it.
 * Return: 0, MSB_E_NOT_FOUND, or a negative errno. */
int msb_row_get(sqlite3 *db, const char *name, struct msb_row *row,
		msb_error *err);
/* msb_row_load() - msb_row_get() without keeping the database open. */
int msb_row_load(const char *name, struct msb_row *row, msb_error *err);

/* msb_row_settling() - @row's state changes by itself soon: a boot under
 * way or, with @stops, a stop under way. */
int msb_row_settling(const struct msb_row *row, int stops);

#endif

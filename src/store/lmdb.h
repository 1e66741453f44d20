/* The LMDB store (--data-dir DIR): every standard and Waku registration and
 * the next sequence number, in DIR/data.mdb (LMDB also keeps DIR/lock.mdb).
 * DIR/rendezvousd.lock is held (flock) by the daemon using the directory,
 * so a second daemon on the same directory refuses to start.
 *
 * Layout: two named LMDB databases.
 *   meta: "format" -> STORE_LMDB_FORMAT; "next_seq" -> BE64
 *   regs: u8 namespace length ‖ namespace ‖ peer id bytes -> a registration:
 *         u8 version (1), u8 dialect, u16 0, u32 naddrs, u64 seq, u64 TTL,
 *         f64 expiry (unix seconds), u32 envelope length, naddrs times
 *         (u32 length ‖ address bytes), the envelope - numbers little-endian.
 *
 * Commits are durable (LMDB syncs on commit). A full map is grown (doubled)
 * and the commit retried; any other failure leaves the disk as the last
 * successful commit wrote it. */
#ifndef RDV_STORE_LMDB_H
#define RDV_STORE_LMDB_H

#include <stddef.h>

#include "store/store.h"

#define STORE_LMDB_FORMAT "rendezvousd registrations 1"
#define STORE_LMDB_MAP_SIZE ((size_t)256 << 20)   /* default initial map size */

/* Opens (creating the directory and the files if needed) and locks DIR.
 * NULL with err naming the path and the reason: another daemon holds the
 * directory, it is not writable, or the data file is damaged or not ours. */
struct store *store_lmdb_open(const char *dir, size_t map_size, char *err, size_t errlen);

/* What --check-config verifies, changing nothing: DIR (or, if it does not
 * exist yet, its parent) is a writable directory and any data file in it is
 * a readable rendezvousd store. -1 with err. */
int store_lmdb_check(const char *dir, char *err, size_t errlen);

#endif

/**
 * @file pk/map.h
 * @brief The function type of a parallel map, shared by the thread pool
 *        (pk/tpool.h) and the process pool (pk/ppool.h).
 *
 * Python's `executor.map(fn, items)` calls fn with one item and keeps what it
 * returns. In C the item and the result are bytes of a fixed size, so the
 * function gets a pointer to each, and the map's @p ctx stands for what a
 * Python closure or functools.partial would have captured.
 */
#ifndef PK_MAP_H
#define PK_MAP_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief The function a map applies to each item.
 * @param in pointer to one input item (in_size bytes).
 * @param out pointer to that item's output slot (out_size bytes).
 * @param ctx the map's ctx argument, shared by all items: what a Python
 *        closure or functools.partial would have captured.
 */
typedef void (*pk_map_fn)(const void *in, void *out, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* PK_MAP_H */

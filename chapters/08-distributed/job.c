/* job.c - chapter 08's workload (provided, complete): the items, the item
 * functions and the totals that the MPI program, the tests and the
 * benchmark share. No MPI here. */
#include "job.h"

#include "pk/task.h"

void job_fill(job_item *items, size_t n, size_t first)
{
    for (size_t i = 0; i < n; i++) {
        items[i].x = first + i;
        items[i].y = 2 * (uint64_t)(first + i);
    }
}

void job_fill_uneven(job_item *items, size_t n)
{
    size_t from = n / 4, to = n / 2; /* the second quarter is heavy */

    for (size_t i = 0; i < n; i++) {
        items[i].x = i;
        items[i].y = i >= from && i < to ? JOB_HEAVY : 1;
    }
}

uint64_t job_item_project(job_item item)
{
    return pk_project_item(item.x, item.y);
}

uint64_t job_item_uneven(job_item item)
{
    uint64_t rounds = item.y > 0 ? item.y : 1;
    uint64_t acc = 0;

    /* Each round is a different item (x + r), so no round can be skipped
     * or folded: the cost really is `rounds` practice items. */
    for (uint64_t r = 0; r < rounds; r++)
        acc += pk_project_item(item.x + r, rounds);
    return acc;
}

void job_map_seq(const job_item *in, size_t n, uint64_t *out, job_fn fn)
{
    for (size_t i = 0; i < n; i++)
        out[i] = fn(in[i]);
}

job_totals job_totals_of(const uint64_t *results, size_t n)
{
    job_totals t = {0, 0, n};

    for (size_t i = 0; i < n; i++) {
        t.sum += results[i];
        if (results[i] > t.max)
            t.max = results[i];
    }
    return t;
}

job_totals job_totals_add(job_totals a, job_totals b)
{
    job_totals t = {a.sum + b.sum, a.max > b.max ? a.max : b.max,
                    a.count + b.count};
    return t;
}

size_t job_first_mismatch(const uint64_t *want, const uint64_t *got, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (want[i] != got[i])
            return i;
    return n;
}

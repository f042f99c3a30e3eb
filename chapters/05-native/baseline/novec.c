/* novec.c - the benchmark's baseline: the plain loops of exercise 1 compiled
 * at -O2 with the vectoriser switched off (-fno-tree-vectorize
 * -fno-tree-slp-vectorize, see chapter.mk). Not an exercise; bench.c only. */
#include <stddef.h>

float novec_sumsq_f32(const float *x, size_t n);
double novec_sumsq_f64(const double *x, size_t n);
double novec_dot_f64(const double *x, const double *y, size_t n);

float novec_sumsq_f32(const float *x, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

double novec_sumsq_f64(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

double novec_dot_f64(const double *x, const double *y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * y[i];
    return s;
}

/* novec.c - the plain loops of exercise 1, compiled three times by
 * chapter.mk for the benchmark (bench.c only; not an exercise):
 *
 *   novec_*  -O2 -fno-tree-vectorize -fno-tree-slp-vectorize   the baseline
 *   o3_*     -O3                        the vectoriser at full strength
 *   fast_*   -O3 -ffast-math -mavx2 -mfma  what Numba's fastmath=True allows
 *
 * PK_PREFIX names the copy. The fast_ copy contains AVX2 instructions
 * anywhere the compiler likes: bench.c calls it only when
 * native_isa_active() reports AVX2 or better. */
#include <stddef.h>

#ifndef PK_PREFIX
#define PK_PREFIX novec_
#endif
#define PK_CAT2(a, b) a##b
#define PK_CAT(a, b) PK_CAT2(a, b)
#define PK_NAME(name) PK_CAT(PK_PREFIX, name)

float PK_NAME(sumsq_f32)(const float *x, size_t n);
double PK_NAME(sumsq_f64)(const double *x, size_t n);
double PK_NAME(dot_f64)(const double *x, const double *y, size_t n);

float PK_NAME(sumsq_f32)(const float *x, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

double PK_NAME(sumsq_f64)(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

double PK_NAME(dot_f64)(const double *x, const double *y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * y[i];
    return s;
}

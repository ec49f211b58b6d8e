/* ab_fft.c - FFTW plans made and destroyed under one lock (see ab_fft.h). */
#include "ab_fft.h"

#include <pthread.h>

static pthread_mutex_t s_planner_lock = PTHREAD_MUTEX_INITIALIZER;

fftwf_plan ab_fft_plan_r2c_f(int n, float *in, fftwf_complex *out)
{
    pthread_mutex_lock(&s_planner_lock);
    fftwf_plan plan = fftwf_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE);
    pthread_mutex_unlock(&s_planner_lock);
    return plan;
}

fftwf_plan ab_fft_plan_c2r_f(int n, fftwf_complex *in, float *out)
{
    pthread_mutex_lock(&s_planner_lock);
    fftwf_plan plan = fftwf_plan_dft_c2r_1d(n, in, out, FFTW_ESTIMATE);
    pthread_mutex_unlock(&s_planner_lock);
    return plan;
}

fftw_plan ab_fft_plan_r2c(int n, double *in, fftw_complex *out)
{
    pthread_mutex_lock(&s_planner_lock);
    fftw_plan plan = fftw_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE);
    pthread_mutex_unlock(&s_planner_lock);
    return plan;
}

void ab_fft_destroy_f(fftwf_plan plan)
{
    if (!plan)
        return;
    pthread_mutex_lock(&s_planner_lock);
    fftwf_destroy_plan(plan);
    pthread_mutex_unlock(&s_planner_lock);
}

void ab_fft_destroy(fftw_plan plan)
{
    if (!plan)
        return;
    pthread_mutex_lock(&s_planner_lock);
    fftw_destroy_plan(plan);
    pthread_mutex_unlock(&s_planner_lock);
}
